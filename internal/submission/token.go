package submission

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// crockford is Crockford's base32 alphabet: digits and capitals without I,
// L, O and U, so a token or reference read aloud or typed is unambiguous.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var tokenEncoding = base32.NewEncoding(crockford).WithPadding(base32.NoPadding)

// TokenLen is the length of a token: 128 random bits in 26 characters.
const TokenLen = 26

// NewToken returns a fresh random 128-bit token.
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes instead)
	return tokenEncoding.EncodeToString(b[:])
}

// HashToken returns what the database keeps of a token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// ParseToken normalises a token as people type it (lower case, spaces and
// hyphens, O for 0, I or L for 1) and reports whether it is well-formed.
func ParseToken(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case ' ', '-':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(crockford, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	t := b.String()
	if len(t) != TokenLen {
		return "", false
	}
	// The last character carries only 3 of its 5 bits: a token must
	// decode to exactly 16 bytes and re-encode to itself.
	raw, err := tokenEncoding.DecodeString(t)
	if err != nil || len(raw) != 16 || tokenEncoding.EncodeToString(raw) != t {
		return "", false
	}
	return t, true
}

// FormatCode groups a token for reading: XXXXX-XXXXX-XXXXX-XXXXX-XXXXXX.
func FormatCode(token string) string {
	var parts []string
	for len(token) > 6 {
		parts = append(parts, token[:5])
		token = token[5:]
	}
	return strings.Join(append(parts, token), "-")
}

// accessToken derives the status-page token of the submission made from a
// draft: the same draft always gives the same token, so a repeated submit
// can show the same receipt although only hashes are stored.
func accessToken(secret []byte, draftToken string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("access\x00" + draftToken))
	return tokenEncoding.EncodeToString(m.Sum(nil)[:16])
}

// NewReference returns a random reference number of an office:
// <CODE>-<YYYY>-<XXXX>-<XXXX> with 40 random bits in Crockford base32.
func NewReference(code string, year int) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	x := tokenEncoding.EncodeToString(b[:]) // 8 characters
	return code + "-" + strconv.Itoa(year) + "-" + x[:4] + "-" + x[4:]
}

// ParseReference reads a reference number as people type it (any case,
// with or without hyphens and spaces, O for 0 and I or L for 1 in the
// random part) and returns it in its stored form, LEJ-2026-XXXX-XXXX.
func ParseReference(s string) (string, bool) {
	var b []byte
	for _, r := range strings.ToUpper(s) {
		if r == ' ' || r == '-' {
			continue
		}
		if r > 0x7f || len(b) == 15 {
			return "", false
		}
		b = append(b, byte(r))
	}
	if len(b) != 15 {
		return "", false
	}
	for i, c := range b {
		switch {
		case i < 3:
			if c < 'A' || c > 'Z' {
				return "", false
			}
		case i < 7:
			if c < '0' || c > '9' {
				return "", false
			}
		default:
			switch c {
			case 'O':
				c = '0'
			case 'I', 'L':
				c = '1'
			}
			if !strings.ContainsRune(crockford, rune(c)) {
				return "", false
			}
			b[i] = c
		}
	}
	return string(b[:3]) + "-" + string(b[3:7]) + "-" + string(b[7:11]) + "-" + string(b[11:]), true
}
