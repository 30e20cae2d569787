package turn

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// TestQuotaBytes relays 1000-byte datagrams through an allocation with a
// 64 KiB quota. Each round trip relays 2000 bytes (client to peer, peer
// back to client), so 32 round trips fit; the 33rd datagram reaches the
// peer, but its echo would pass the quota: it is dropped, and the
// allocation is closed.
func TestQuotaBytes(t *testing.T) {
	const quota = 64 << 10
	s := newServer(t, func(c *Config) { c.QuotaBytes = quota })
	peer := newEchoPeer(t)
	client := freshClient(t, s, "udp", "patient")
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()

	payload := bytes.Repeat([]byte("x"), 1000)
	trips := 0
	for ; trips < 100; trips++ {
		if err := roundTrip(relay, peer.addr(), payload, 500*time.Millisecond); err != nil {
			break
		}
	}
	if trips != 32 {
		t.Errorf("%d round trips of 2000 bytes within a quota of %d, want 32", trips, quota)
	}
	if got := peer.bytes(); got != 33*1000 {
		t.Errorf("the peer received %d bytes, want %d", got, 33*1000)
	}
	if err := eventually(2*time.Second, func() error {
		if n := s.turn.AllocationCount(); n != 0 {
			return fmt.Errorf("%d allocations left", n)
		}
		return nil
	}); err != nil {
		t.Errorf("the allocation was not deleted: %v", err)
	}
	if err := roundTrip(relay, peer.addr(), payload, 300*time.Millisecond); err == nil {
		t.Error("relaying went on past the quota")
	}
	if log := s.log.String(); !strings.Contains(log, "relay quota used up") || !strings.Contains(log, "user=patient") {
		t.Errorf("no info line about the quota:\n%s", log)
	}

	// The quota is the allocation's: the user may allocate anew.
	again := freshClient(t, s, "udp", "patient")
	relay2, err := again.Allocate()
	if err != nil {
		t.Fatalf("a new allocation after the quota: %v", err)
	}
	defer relay2.Close()
	if err := roundTrip(relay2, peer.addr(), payload, time.Second); err != nil {
		t.Errorf("round trip through the new allocation: %v", err)
	}
}

// TestQuotaIgnoresStrangers checks that datagrams from peers without a
// permission neither reach the client nor count against its quota.
func TestQuotaIgnoresStrangers(t *testing.T) {
	const quota = 8 << 10
	s := newServer(t, func(c *Config) { c.QuotaBytes = quota })
	peer := newEchoPeer(t)
	client := freshClient(t, s, "udp", "patient")
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()

	// A permission is per IP, and the peer's is 127.0.0.1; the stranger
	// sends from 127.0.0.2 (loopback on Linux without configuration).
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer stranger.Close()
	if err := roundTrip(relay, peer.addr(), []byte("hello"), time.Second); err != nil {
		t.Fatal(err)
	}
	junk := bytes.Repeat([]byte("j"), 1000)
	for range 3 * quota / len(junk) {
		if _, err := stranger.WriteTo(junk, relay.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for i := range 3 {
		if err := roundTrip(relay, peer.addr(), []byte(fmt.Sprint("still here ", i)), time.Second); err != nil {
			t.Fatalf("after %d bytes from a stranger: %v", 3*quota, err)
		}
	}
}

// TestAllocationLimits checks the limits per user and in total, that a
// closed allocation gives its place back, and that concurrent requests
// cannot pass a limit.
func TestAllocationLimits(t *testing.T) {
	s := newServer(t, func(c *Config) { c.MaxAllocations = 3; c.MaxAllocationsPerUser = 2 })
	allocate := func(user string) (net.PacketConn, error) {
		return freshClient(t, s, "udp", user).Allocate()
	}
	quotaReached := func(err error) bool {
		var turnErr *stun.TurnError
		return errors.As(err, &turnErr) && turnErr.ErrorCodeAttr.Code == stun.CodeAllocQuotaReached
	}

	a1, err := allocate("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allocate("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := allocate("alice"); !quotaReached(err) {
		t.Errorf("alice's third allocation: %v, want error 486", err)
	}
	// Other credentials of the same participant count as the same user.
	username, password := Credentials(testSecret, "alice", 2*time.Hour, time.Now())
	if _, err := newClient(t, s, "tcp", username, password).Allocate(); !quotaReached(err) {
		t.Errorf("alice's third allocation, over TCP with other credentials: %v, want error 486", err)
	}
	if _, err := allocate("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := allocate("carol"); !quotaReached(err) {
		t.Errorf("the fourth allocation in all: %v, want error 486", err)
	}

	// Closing deallocates (a Refresh with lifetime 0) and frees a place.
	if err := a1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := eventually(2*time.Second, func() error {
		relay, err := allocate("carol")
		if err == nil {
			return relay.Close()
		}
		return err
	}); err != nil {
		t.Errorf("carol after alice closed one: %v", err)
	}
}

// TestAllocationLimitsConcurrent starts more allocations of one user at
// once than the limit allows: exactly the limit succeed.
func TestAllocationLimitsConcurrent(t *testing.T) {
	const perUser, tries = 3, 12
	s := newServer(t, func(c *Config) { c.MaxAllocationsPerUser = perUser })
	clients := make([]*turn.Client, tries)
	for i := range clients {
		clients[i] = freshClient(t, s, "udp", "mallory")
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		relays []net.PacketConn // held until all have tried
	)
	for _, c := range clients {
		wg.Go(func() {
			relay, err := c.Allocate()
			if err != nil {
				var turnErr *stun.TurnError
				if !errors.As(err, &turnErr) {
					t.Errorf("Allocate: %v", err)
				}
				return
			}
			mu.Lock()
			relays = append(relays, relay)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, r := range relays {
		_ = r.Close()
	}
	if len(relays) != perUser {
		t.Errorf("%d of %d concurrent allocations succeeded, want %d", len(relays), tries, perUser)
	}
}
