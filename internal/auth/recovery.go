package auth

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// RecoveryCodes is how many recovery codes an account gets at enrolment.
const RecoveryCodes = 10

// recoveryEncoding is Crockford's base32 alphabet: no I, L, O or U to
// misread when a code is typed from paper.
var recoveryEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newRecoveryCodes returns codes to show once (XXXXX-XXXXX, 50 random bits
// each) and the hashes to keep.
func newRecoveryCodes() ([]string, [][]byte) {
	codes := make([]string, RecoveryCodes)
	hashes := make([][]byte, RecoveryCodes)
	for i := range codes {
		b := make([]byte, 7)
		_, _ = rand.Read(b)
		c := recoveryEncoding.EncodeToString(b)[:10]
		codes[i] = c[:5] + "-" + c[5:]
		hashes[i] = hashToken(c)
	}
	return codes, hashes
}

// parseRecoveryCode reads a recovery code as typed (any case, with or
// without the hyphen and spaces, O for 0, I or L for 1) and reports
// whether it has the shape of one: ten characters, where a TOTP code has
// six digits.
func parseRecoveryCode(s string) (string, bool) {
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
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != 10 {
		return "", false
	}
	return b.String(), true
}
