// Package crypto encrypts citizen attachments at rest. Uploads are health
// data (GDPR Art. 9), so a copy of the database or of a backup alone must
// not reveal them: every blob is sealed with envelope encryption under the
// master key from PORTAL_ENCRYPTION_KEY. It uses the standard library only.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error of Open. A wrong master key, a wrong
// aad, a truncated or tampered blob and an unknown format version are
// deliberately not told apart: AES-GCM cannot distinguish them, and a caller
// must treat them all the same way (refuse the data, log the row id).
var ErrCorrupt = errors.New("crypto: blob corrupt or sealed for another key or context")

// Blob layout, version 1 (sizes in bytes):
//
//	offset  size  field
//	0       1     version (1)
//	1       12    wrap nonce
//	13      48    wrapped data key: AES-256-GCM(master key, wrap nonce,
//	              32-byte data key, ad) = 32 ciphertext + 16 tag
//	61      12    data nonce
//	73      n+16  AES-256-GCM(data key, data nonce, plaintext, ad)
//
// where ad = version byte || caller's aad, for both seals. Putting the
// version into ad means a blob cannot be reinterpreted under a later format
// by editing its first byte. Both layers bind the caller's aad, so a blob
// copied to another row fails before its data key is even unwrapped.
const (
	version1 = 1

	keySize   = 32 // AES-256
	nonceSize = 12 // GCM standard nonce
	tagSize   = 16 // GCM tag

	offWrapNonce  = 1
	offWrappedKey = offWrapNonce + nonceSize
	offDataNonce  = offWrappedKey + keySize + tagSize
	headerSize    = offDataNonce + nonceSize // 73

	// Overhead is the number of bytes a sealed blob is longer than its
	// plaintext; callers may use it to size storage columns or limits.
	Overhead = headerSize + tagSize // 89

	// maxPlaintext is the GCM limit for one message; Seal refuses more
	// instead of letting cipher.AEAD panic. Far above any upload limit.
	maxPlaintext = (1<<32 - 2) * 16
)

// Box seals and opens attachment blobs under one master key. Build it once
// at start from the validated config and share it: it holds no mutable
// state and is safe for concurrent use.
type Box struct {
	master cipher.AEAD // wraps data keys only, never attachment bytes
}

// NewBox returns a Box for the 32-byte master key (PORTAL_ENCRYPTION_KEY,
// already decoded). It is called once by the wiring in cmd/portal. It
// returns an error if key is not exactly 32 bytes: a shorter key would
// silently select AES-128 or AES-192, which the stored format does not
// record.
func NewBox(key []byte) (*Box, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("crypto: master key must be %d bytes, got %d", keySize, len(key))
	}
	master, err := newGCM(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	return &Box{master: master}, nil
}

// Seal encrypts plaintext under a fresh random data key and returns a
// self-describing blob (layout above) that Open reverses. aad names the
// place the blob belongs to, e.g. "attachment:" + id or a draft token hash;
// it is not stored, and Open must be given the same bytes. The result never
// aliases plaintext or aad.
//
// A fresh data key per blob keeps the number of messages under the master
// key to one small key-wrap each, and lets the master key be rotated by
// rewrapping 48 bytes per row instead of re-encrypting attachments. With
// random 96-bit wrap nonces the master key should seal well under 2^32
// blobs before rotation; the portal is many orders of magnitude below that.
//
// Seal returns an error only if plaintext exceeds the AES-GCM message
// limit of about 64 GiB.
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	if int64(len(plaintext)) > maxPlaintext {
		return nil, fmt.Errorf("crypto: seal: plaintext of %d bytes exceeds the AES-GCM limit", len(plaintext))
	}
	ad := additionalData(version1, aad)

	var dataKey [keySize]byte
	// rand.Read never returns an error; it crashes the program instead,
	// which is right: sealing with a predictable key must not happen.
	rand.Read(dataKey[:])
	// Best effort only: the expanded AES schedule lives on in the cipher.
	defer clear(dataKey[:])

	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = version1
	rand.Read(out[offWrapNonce:offWrappedKey])
	b.master.Seal(out[offWrappedKey:offWrappedKey], out[offWrapNonce:offWrappedKey], dataKey[:], ad)
	rand.Read(out[offDataNonce:headerSize])

	data, err := newGCM(dataKey[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: seal: data key: %w", err)
	}
	return data.Seal(out, out[offDataNonce:headerSize], plaintext, ad), nil
}

// Open authenticates and decrypts a blob made by Seal with the same master
// key and aad, and returns a new plaintext slice. Any other input, including
// nil, returns an error wrapping ErrCorrupt; Open never panics, since blobs
// come from storage that an attacker may have written to.
func (b *Box) Open(blob, aad []byte) ([]byte, error) {
	if len(blob) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the minimum of %d", ErrCorrupt, len(blob), Overhead)
	}
	if v := blob[0]; v != version1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, v)
	}
	ad := additionalData(version1, aad)

	var dataKey [keySize]byte
	defer clear(dataKey[:])
	if _, err := b.master.Open(dataKey[:0], blob[offWrapNonce:offWrappedKey], blob[offWrappedKey:offDataNonce], ad); err != nil {
		// Wrong master key, wrong aad or a tampered header.
		return nil, fmt.Errorf("%w: unwrap data key", ErrCorrupt)
	}
	data, err := newGCM(dataKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %v", ErrCorrupt, err)
	}
	plaintext, err := data.Open(nil, blob[offDataNonce:headerSize], blob[headerSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: decrypt data", ErrCorrupt)
	}
	return plaintext, nil
}

// additionalData returns version || aad as a new slice. The version has a
// fixed size, so the concatenation is unambiguous.
func additionalData(version byte, aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, version)
	return append(ad, aad...)
}

// newGCM returns AES-GCM with the standard 12-byte nonce and 16-byte tag
// that the blob layout assumes.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
