package portal

import "hash/crc32"

// crcShift is the CRC-32 (IEEE) operator that appends n bytes: for the
// CRCs a of A and b of B, with len(B) = n, crcShift(n).combine(a, b) is
// the CRC of A followed by B. It lets a spliced page's CRC be made from
// the CRC of its start and token and the CRC of its fixed end, kept with
// it, instead of reading the end again for every answer. The operator is
// x^(8n) modulo the CRC's polynomial, found by squaring (as zlib's
// crc32_combine does); applying it is one multiplication modulo the
// polynomial, whatever n.
type crcShift uint32

func newCRCShift(n int) crcShift {
	p := uint32(1) << 31  // x^0, bits reflected as the IEEE CRC has them
	sq := uint32(1) << 30 // x^1, squared for every bit of 8n
	for n := uint64(n) * 8; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = crcMul(sq, p)
		}
		sq = crcMul(sq, sq)
	}
	return crcShift(p)
}

func (s crcShift) combine(a, b uint32) uint32 { return crcMul(uint32(s), a) ^ b }

// crcMul multiplies a and b modulo the IEEE polynomial, both with their
// bits reflected.
func crcMul(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
	return p
}
