package turn

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestAuthRefused checks that an Allocate with bad credentials gets 401
// (Unauthorized), for every way credentials can be bad, over UDP and TCP.
func TestAuthRefused(t *testing.T) {
	s := newServer(t, nil)
	now := time.Now()
	valid, validPassword := Credentials(testSecret, "patient", time.Hour, now)
	expired, expiredPassword := Credentials(testSecret, "patient", -time.Second, now)
	tests := []struct {
		name               string
		username, password string
	}{
		{"expired", expired, expiredPassword},
		{"expiring now", itoa(now.Unix()) + ":patient", sign(testSecret, itoa(now.Unix())+":patient")},
		{"wrong password", valid, validPassword[:len(validPassword)-2] + "AA"},
		{"empty password", valid, ""},
		{"other secret", valid, sign([]byte("another-secret-of-16-bytes"), valid)},
		{"no colon", "patient", sign(testSecret, "patient")},
		{"garbage expiry", "soon:patient", sign(testSecret, "soon:patient")},
		{"negative expiry", "-1:patient", sign(testSecret, "-1:patient")},
		{"huge expiry", "99999999999999999999:patient", sign(testSecret, "99999999999999999999:patient")},
		{"no user", itoa(now.Add(time.Hour).Unix()) + ":", sign(testSecret, itoa(now.Add(time.Hour).Unix())+":")},
		{"binary username", "\x00\xff:\x01", sign(testSecret, "\x00\xff:\x01")},
		{"tampered expiry", itoa(now.Add(48*time.Hour).Unix()) + ":patient", validPassword},
		{"tampered user", strings.Replace(valid, "patient", "doctor", 1), validPassword},
	}
	for _, tt := range tests {
		for _, transport := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+transport, func(t *testing.T) {
				client := newClient(t, s, transport, tt.username, tt.password)
				relay, err := client.Allocate()
				if err == nil {
					relay.Close()
					t.Fatal("Allocate succeeded")
				}
				var turnErr *stun.TurnError
				if !errors.As(err, &turnErr) || turnErr.ErrorCodeAttr.Code != stun.CodeUnauthorized {
					t.Fatalf("Allocate: %v, want error 401", err)
				}
			})
		}
	}

	// The server still serves after all that.
	client := newClient(t, s, "udp", valid, validPassword)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("Allocate with valid credentials: %v", err)
	}
	relay.Close()
}

// TestAuthForeignRealm checks that credentials presented for another realm
// are refused, though the HMAC is right.
func TestAuthForeignRealm(t *testing.T) {
	s := newServer(t, nil)
	username, password := Credentials(testSecret, "patient", time.Hour, time.Now())
	c := newRawClient(t, s, username, password)
	c.realm = "other"
	if got := errorCode(c.request(stun.MethodAllocate, requestedUDP{})); got != stun.CodeUnauthorized {
		t.Fatalf("Allocate in a foreign realm: error %d, want 401", got)
	}
}

// TestAuthExpiryEndsRefresh checks that credentials are checked on every
// request, not only at Allocate: once they expire, the allocation can no
// longer be refreshed or given permissions, so it ends with its lifetime.
func TestAuthExpiryEndsRefresh(t *testing.T) {
	s := newServer(t, nil)
	// Expiries are whole seconds: a lifetime of two seconds leaves at least
	// one before the expiry, whatever the fraction of the current second.
	username, password := Credentials(testSecret, "patient", 2*time.Second, time.Now())
	expiry, _, err := parseUsername(username)
	if err != nil {
		t.Fatal(err)
	}
	c := newRawClient(t, s, username, password)
	c.allocate()
	peer := newEchoPeer(t)
	if got := errorCode(c.request(stun.MethodCreatePermission, peerAddress{ip: peer.addr().IP, port: peer.addr().Port})); got != 0 {
		t.Fatalf("CreatePermission before expiry: error %d", got)
	}
	if got := errorCode(c.request(stun.MethodRefresh)); got != 0 {
		t.Fatalf("Refresh before expiry: error %d", got)
	}

	time.Sleep(time.Until(expiry) + 50*time.Millisecond)
	if got := errorCode(c.request(stun.MethodRefresh)); got != stun.CodeUnauthorized {
		t.Errorf("Refresh after expiry: error %d, want 401", got)
	}
	if got := errorCode(c.request(stun.MethodCreatePermission, peerAddress{ip: peer.addr().IP, port: peer.addr().Port})); got != stun.CodeUnauthorized {
		t.Errorf("CreatePermission after expiry: error %d, want 401", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
