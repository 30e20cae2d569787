package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is defined with HMAC-SHA1; browsers and coturn expect it
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxUserLen bounds the <user> part of a username. The portal's participant
// ids are far shorter; the bound keeps the per-user allocation table small
// whatever a client sends.
const maxUserLen = 128

// Why parseUsername refuses a username. They stay unexported: the AuthHandler
// only says "no" to the client, and logs which of these it was at debug
// level.
var (
	errNoSeparator = errors.New("no ':' between expiry and user")
	errBadExpiry   = errors.New("expiry is not a canonical positive unix time")
	errBadUser     = errors.New("user is empty, too long, not UTF-8 or has control characters")
)

// Credentials returns TURN REST credentials for user valid until now+ttl:
// username "<expiry-unix>:<user>" and password
// base64(HMAC-SHA1(secret, username)), the scheme coturn calls
// use-auth-secret and browsers accept as RTCIceServer{username, credential}.
//
// Server.ICEServers calls it with the server's secret and TTL; other
// callers (a second portal instance sharing the secret, tests) may call it
// directly. It returns no error: a user the server would refuse (empty,
// over 128 bytes, not UTF-8, with control characters) gives credentials the
// server refuses, and a ttl <= 0 gives credentials that have expired.
func Credentials(secret []byte, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, sign(secret, username)
}

// sign is the password of username under secret.
func sign(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username)) // a hash.Hash never returns an error
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseUsername splits a TURN REST username into its expiry and user. It
// accepts exactly what Credentials produces for a valid user: a canonical
// decimal unix time (no sign, no leading zero) greater than zero, a colon,
// and the user. The user may itself contain colons; the first colon
// separates.
func parseUsername(username string) (expiry time.Time, user string, err error) {
	digits, user, found := strings.Cut(username, ":")
	if !found {
		return time.Time{}, "", errNoSeparator
	}
	if digits == "" || len(digits) > 19 || digits[0] == '0' {
		return time.Time{}, "", errBadExpiry
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return time.Time{}, "", errBadExpiry
		}
	}
	sec, err := strconv.ParseInt(digits, 10, 64)
	if err != nil { // over int64
		return time.Time{}, "", errBadExpiry
	}
	if !validUser(user) {
		return time.Time{}, "", errBadUser
	}
	return time.Unix(sec, 0), user, nil
}

// validUser reports whether user is one the server accepts: 1 to
// maxUserLen bytes of UTF-8 without control characters (they would end up
// in log lines).
func validUser(user string) bool {
	if user == "" || len(user) > maxUserLen || !utf8.ValidString(user) {
		return false
	}
	for _, r := range user {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
