package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// fingerprintLabel is what Fingerprint authenticates. Changing it changes
// every fingerprint, so backups made before would no longer match.
const fingerprintLabel = "gesundheitsamt-portal key fingerprint v1"

// Fingerprint returns a short value that tells two keys apart without
// revealing either: HMAC-SHA256 keyed with key over a fixed label,
// truncated to 128 bits, as "hmac-sha256:" and 32 hex digits. For a
// random 256-bit key it gives nothing away; the label separates it from
// any other use of the key, so the value is never a hash that some other
// code uses as a derived key. Backups record it so a restore can tell
// whether the configured key is the one the data were sealed with. Any key
// length is accepted.
func Fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(fingerprintLabel))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)[:16])
}
