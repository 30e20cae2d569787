package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// Counted in one statement: 60 parallel events of one key get the counts
// 1 to 60, each once (a read and then a write would hand out some twice).
func TestCountEventInParallel(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []int
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := store.CountEvent(ctx, db, []byte("login:client"), time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("counts %v, want 1 to 60 once each", got)
		}
	}
	if n, _ := store.CountEvent(ctx, db, []byte("other"), time.Hour); n != 1 {
		t.Errorf("another key starts at %d", n)
	}
}

// Of 50 parallel attempts at a key with five free ones, five pass; the
// rest learn how long the key is blocked. Clearing the key starts it
// afresh.
func TestClaimAttemptInParallel(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	th := store.Throttle{Free: 5, Base: time.Minute, Max: 15 * time.Minute}
	key, owner := []byte("password:a"), []byte("owner:a")
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed, waits := 0, 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, wait, err := store.ClaimAttempt(ctx, db, key, owner, th)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				passed++
			} else if wait > 50*time.Second && wait <= 61*time.Second { // now() is when a waiting statement began
				waits++
			}
		}()
	}
	wg.Wait()
	if passed != 5 || waits != 45 {
		t.Errorf("%d passed, %d refused with the first delay; want 5 and 45", passed, waits)
	}
	blocked, err := store.BlockedKeys(ctx, db, [][]byte{key, []byte("other")})
	if err != nil || !blocked[string(key)] || len(blocked) != 1 {
		t.Errorf("blocked %v, %v", blocked, err)
	}
	if err := store.ClearOwnerAttempts(ctx, db, owner); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := store.ClaimAttempt(ctx, db, key, owner, th); !ok || err != nil {
		t.Errorf("after clearing: %v %v", ok, err)
	}
}
