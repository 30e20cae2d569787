package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the scheme under test
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCredentials checks the scheme against its definition, computed here
// independently: username "<expiry>:<user>", password
// base64(HMAC-SHA1(secret, username)).
func TestCredentials(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	now := time.Unix(1_700_000_000, 0)
	username, password := Credentials(secret, "participant-7", 4*time.Hour, now)

	if want := strconv.FormatInt(now.Add(4*time.Hour).Unix(), 10) + ":participant-7"; username != want {
		t.Fatalf("username = %q, want %q", username, want)
	}
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); password != want {
		t.Fatalf("password = %q, want %q", password, want)
	}

	expiry, user, err := parseUsername(username)
	if err != nil || user != "participant-7" || !expiry.Equal(now.Add(4*time.Hour)) {
		t.Fatalf("parseUsername(%q) = %v, %q, %v", username, expiry, user, err)
	}
}

func TestParseUsername(t *testing.T) {
	tests := []struct {
		username string
		user     string // "" when refused
		err      error
	}{
		{"1700000000:bob", "bob", nil},
		{"1:a", "a", nil},
		{"1700000000:room:7:bob", "room:7:bob", nil}, // the first colon separates
		{"1700000000:" + strings.Repeat("x", maxUserLen), strings.Repeat("x", maxUserLen), nil},
		{"1700000000:Jürgen", "Jürgen", nil},

		{"", "", errNoSeparator},
		{"bob", "", errNoSeparator},
		{"1700000000", "", errNoSeparator},
		{":bob", "", errBadExpiry},
		{"abc:bob", "", errBadExpiry},
		{"0:bob", "", errBadExpiry},
		{"0170:bob", "", errBadExpiry},
		{"-1700000000:bob", "", errBadExpiry},
		{"+1700000000:bob", "", errBadExpiry},
		{" 1700000000:bob", "", errBadExpiry},
		{"17e8:bob", "", errBadExpiry},
		{"0x10:bob", "", errBadExpiry},
		{"99999999999999999999:bob", "", errBadExpiry}, // 20 digits
		{"9223372036854775808:bob", "", errBadExpiry},  // int64 overflow
		{"1700000000:", "", errBadUser},
		{"1700000000:" + strings.Repeat("x", maxUserLen+1), "", errBadUser},
		{"1700000000:bob\nforged log line", "", errBadUser},
		{"1700000000:bo\x00b", "", errBadUser},
		{"1700000000:\xff\xfe", "", errBadUser},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.username), func(t *testing.T) {
			_, user, err := parseUsername(tt.username)
			if err != tt.err || user != tt.user {
				t.Fatalf("parseUsername = %q, %v; want %q, %v", user, err, tt.user, tt.err)
			}
		})
	}
}

// FuzzParseUsername feeds the parser of the one field of outside input the
// server reads before any key is known: the STUN USERNAME. It must not
// panic, must accept only what Credentials produces, and must give back
// exactly what Credentials put in.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700000000:bob", "1:a", "0:x", ":", "", "1:", "9223372036854775807:z", "1:a:b", "1:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		expiry, user, err := parseUsername(username)
		if err != nil {
			if user != "" || !expiry.IsZero() {
				t.Fatalf("refused %q but returned %v, %q", username, expiry, user)
			}
			return
		}
		if !validUser(user) || expiry.Unix() <= 0 {
			t.Fatalf("accepted %q as %v, %q", username, expiry, user)
		}
		again, _ := Credentials([]byte("0123456789abcdef"), user, 0, expiry)
		if again != username {
			t.Fatalf("accepted %q, which Credentials spells %q", username, again)
		}
	})
}
