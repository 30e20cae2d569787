package portal

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// The CRC of two parts combined is the CRC of the whole, for parts of any
// length, the empty ones included.
func TestCRCShift(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 63, 64, 65, 1000, 4096, 65537, 300000} {
		whole := make([]byte, n+r.IntN(100))
		for i := range whole {
			whole[i] = byte(r.Uint32())
		}
		a, b := whole[:len(whole)-n], whole[len(whole)-n:]
		got := newCRCShift(n).combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b))
		if want := crc32.ChecksumIEEE(whole); got != want {
			t.Errorf("%d bytes after %d: %08x, want %08x", n, len(a), got, want)
		}
	}
}
