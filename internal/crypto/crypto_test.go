package crypto

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
)

// newTestKey returns a fixed 32-byte key whose bytes start at seed, so two
// seeds give two different keys.
func newTestKey(seed byte) []byte {
	key := make([]byte, keySize)
	for i := range key {
		key[i] = seed + byte(i)
	}
	return key
}

func mustNewBox(t testing.TB, key []byte) *Box {
	t.Helper()
	b, err := NewBox(key)
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

func mustSeal(t testing.TB, b *Box, plaintext, aad []byte) []byte {
	t.Helper()
	blob, err := b.Seal(plaintext, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return blob
}

func TestNewBoxKeySize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		key     []byte
		wantErr bool
	}{
		{"nil", nil, true},
		{"AES-128 size", make([]byte, 16), true},
		{"AES-192 size", make([]byte, 24), true},
		{"31 bytes", make([]byte, 31), true},
		{"33 bytes", make([]byte, 33), true},
		{"32 bytes", make([]byte, 32), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBox(tc.key)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewBox(%d bytes) error = %v, want error %v", len(tc.key), err, tc.wantErr)
			}
			if (b == nil) != tc.wantErr {
				t.Fatalf("NewBox(%d bytes) box = %v", len(tc.key), b)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	b := mustNewBox(t, newTestKey(1))
	big := make([]byte, 5<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty", []byte{}, []byte("attachment:1")},
		{"nil plaintext", nil, []byte("attachment:1")},
		{"one byte", []byte{0x42}, []byte("attachment:2")},
		{"5 MiB", big, []byte("attachment:3")},
		{"empty aad", []byte("Befund"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob := mustSeal(t, b, tc.plaintext, tc.aad)
			if got, want := len(blob), len(tc.plaintext)+Overhead; got != want {
				t.Errorf("len(blob) = %d, want %d", got, want)
			}
			if blob[0] != version1 {
				t.Errorf("version byte = %d, want %d", blob[0], version1)
			}
			got, err := b.Open(blob, tc.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Open returned %d bytes that differ from the %d sealed", len(got), len(tc.plaintext))
			}
		})
	}
}

// TestOpenRejects checks that every way a blob can be wrong is reported as
// ErrCorrupt and nothing else.
func TestOpenRejects(t *testing.T) {
	b := mustNewBox(t, newTestKey(1))
	aad := []byte("attachment:17")
	blob := mustSeal(t, b, []byte("Impfpass"), aad)

	withVersion := func(v byte) []byte {
		c := bytes.Clone(blob)
		c[0] = v
		return c
	}
	for _, tc := range []struct {
		name string
		box  *Box
		blob []byte
		aad  []byte
	}{
		{"wrong aad", b, blob, []byte("attachment:18")},
		{"aad prefix", b, blob, []byte("attachment:1")},
		{"missing aad", b, blob, nil},
		{"wrong master key", mustNewBox(t, newTestKey(2)), blob, aad},
		{"nil blob", b, nil, aad},
		{"appended byte", b, append(bytes.Clone(blob), 0), aad},
		{"version 0", b, withVersion(0), aad},
		{"version 2", b, withVersion(2), aad},
		{"version 255", b, withVersion(255), aad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.box.Open(tc.blob, tc.aad)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open error = %v, want ErrCorrupt", err)
			}
			if got != nil {
				t.Fatalf("Open returned %d bytes alongside an error", len(got))
			}
		})
	}
}

func TestOpenTruncated(t *testing.T) {
	b := mustNewBox(t, newTestKey(1))
	aad := []byte("attachment:17")
	blob := mustSeal(t, b, []byte("Impfpass"), aad)
	for n := range len(blob) {
		if _, err := b.Open(blob[:n], aad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(first %d of %d bytes) error = %v, want ErrCorrupt", n, len(blob), err)
		}
	}
}

func TestOpenBitFlip(t *testing.T) {
	b := mustNewBox(t, newTestKey(1))
	aad := []byte("attachment:17")
	blob := mustSeal(t, b, []byte("Impfpass"), aad)
	for i := range len(blob) {
		for bit := range 8 {
			c := bytes.Clone(blob)
			c[i] ^= 1 << bit
			if _, err := b.Open(c, aad); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open(bit %d of byte %d flipped) error = %v, want ErrCorrupt", bit, i, err)
			}
		}
	}
}

// TestSealFresh checks that sealing is randomised: equal attachments must
// not be recognisable as equal in the database.
func TestSealFresh(t *testing.T) {
	b := mustNewBox(t, newTestKey(1))
	plaintext, aad := []byte("same upload"), []byte("attachment:1")
	first, second := mustSeal(t, b, plaintext, aad), mustSeal(t, b, plaintext, aad)
	if bytes.Equal(first, second) {
		t.Fatal("two seals of the same plaintext are equal")
	}
	for _, part := range []struct {
		name     string
		from, to int
	}{
		{"wrap nonce", offWrapNonce, offWrappedKey},
		{"wrapped key", offWrappedKey, offDataNonce},
		{"data nonce", offDataNonce, headerSize},
		{"ciphertext", headerSize, len(first)},
	} {
		if bytes.Equal(first[part.from:part.to], second[part.from:part.to]) {
			t.Errorf("%s repeats across two seals", part.name)
		}
	}
}

// TestSealDoesNotAlias guards against Seal handing back storage that the
// caller still owns, which would let a later write to the buffer corrupt a
// stored blob.
func TestSealDoesNotAlias(t *testing.T) {
	b := mustNewBox(t, newTestKey(1))
	plaintext, aad := []byte("Laborbefund"), []byte("attachment:1")
	blob := mustSeal(t, b, plaintext, aad)
	clear(plaintext)
	clear(aad)
	got, err := b.Open(blob, []byte("attachment:1"))
	if err != nil {
		t.Fatalf("Open after clearing the inputs: %v", err)
	}
	if string(got) != "Laborbefund" {
		t.Fatalf("Open = %q", got)
	}
}

// TestConcurrent lets the race detector check that one Box may be shared
// by all request handlers.
func TestConcurrent(t *testing.T) {
	b := mustNewBox(t, newTestKey(1))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			aad := []byte{byte(i)}
			for range 50 {
				blob, err := b.Seal([]byte("parallel"), aad)
				if err != nil {
					t.Errorf("Seal: %v", err)
					return
				}
				if _, err := b.Open(blob, aad); err != nil {
					t.Errorf("Open: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzOpen(f *testing.F) {
	b := mustNewBox(f, newTestKey(1))
	aad := []byte("attachment:1")
	f.Add(mustSeal(f, b, nil, aad), aad)
	f.Add(mustSeal(f, b, []byte("Befund"), aad), aad)
	f.Add(mustSeal(f, b, []byte("Befund"), aad), []byte("attachment:2"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version1}, aad)
	f.Fuzz(func(t *testing.T, blob, aad []byte) {
		got, err := b.Open(blob, aad)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open error %v does not wrap ErrCorrupt", err)
			}
			if got != nil {
				t.Fatal("Open returned plaintext alongside an error")
			}
			return
		}
		// Only a genuine seal can open: its length must match.
		if len(blob) != len(got)+Overhead {
			t.Fatalf("opened %d-byte blob to %d bytes", len(blob), len(got))
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	box := mustNewBox(b, newTestKey(1))
	plaintext, aad := make([]byte, 1<<20), []byte("attachment:1")
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := box.Seal(plaintext, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	box := mustNewBox(b, newTestKey(1))
	aad := []byte("attachment:1")
	blob := mustSeal(b, box, make([]byte, 1<<20), aad)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := box.Open(blob, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFingerprintTellsKeysApartAndHidesThem(t *testing.T) {
	a, b := newTestKey(1), newTestKey(2)
	fa := Fingerprint(a)
	if fa != Fingerprint(append([]byte(nil), a...)) {
		t.Error("the same key gives two fingerprints")
	}
	if fa == Fingerprint(b) {
		t.Error("two keys give one fingerprint")
	}
	if len(fa) != len("hmac-sha256:")+32 || fa[:12] != "hmac-sha256:" {
		t.Errorf("fingerprint %q", fa)
	}
	sum := sha256.Sum256(a)
	if bytes.Contains([]byte(fa), []byte(hex.EncodeToString(a)[:8])) || bytes.Contains([]byte(fa), []byte(hex.EncodeToString(sum[:])[:8])) {
		t.Errorf("fingerprint %q shows the key or its plain hash", fa)
	}
}
