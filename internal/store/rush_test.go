package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// Tickets of a rush: 40 clients at once get the numbers 1 to 40, each
// once; one client asking 10 times at once gets one number; a rush that
// is over is replaced by a new one whose numbers start again, and the old
// tickets go.
func TestRushTickets(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	o, err := store.GetOfficeBySlug(ctx, db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	const service = "belehrung-infektionsschutz"
	r, err := store.StartRush(ctx, db, o.ID, service, 5*time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	take := func(client string) int64 {
		n, ok, err := store.TakeTicket(ctx, db, r.ID, []byte(client), 0, time.Minute)
		if err != nil || !ok {
			t.Errorf("ticket of %s: %v, %v", client, ok, err)
		}
		return n
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []int64
	of := map[string]int64{}
	for i := range 40 {
		wg.Go(func() {
			client := fmt.Sprintf("client-%d", i)
			n := take(client)
			mu.Lock()
			got, of[client] = append(got, n), n
			mu.Unlock()
		})
	}
	same := make([]int64, 10)
	for i := range same {
		wg.Go(func() { same[i] = take("one-client") })
	}
	wg.Wait()
	slices.Sort(got)
	seen := map[int64]bool{}
	for _, n := range got {
		if seen[n] || n < 1 {
			t.Fatalf("numbers %v: one twice", got)
		}
		seen[n] = true
	}
	for _, n := range same {
		if n != same[0] || seen[n] {
			t.Fatalf("one client's numbers %v, others' %v", same, got)
		}
	}
	if n := take("client-3"); n != of["client-3"] {
		t.Errorf("client-3 again: %d, had %d", n, of["client-3"])
	}
	// Never below from.
	if n, _, _ := store.TakeTicket(ctx, db, r.ID, []byte("late"), 1000, time.Minute); n != 1000 {
		t.Errorf("a ticket from 1000: %d", n)
	}

	again, err := store.StartRush(ctx, db, o.ID, service, 5*time.Minute, 7)
	if err != nil || again.ID != r.ID || again.AdmitRate != 2 || !again.Started.Equal(r.Started) {
		t.Fatalf("a rush that is on, started again: %+v, %v (was %+v)", again, err, r)
	}
	if _, err := db.Exec(ctx, `UPDATE booking_rush SET until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, on, err := store.GetRush(ctx, db, o.ID, service); on || err != nil {
		t.Fatalf("a rush that is over: %v, %v", on, err)
	}
	if _, ok, _ := store.TakeTicket(ctx, db, r.ID, []byte("after"), 0, time.Minute); ok {
		t.Error("a ticket of a rush that is over")
	}
	next, err := store.StartRush(ctx, db, o.ID, service, 5*time.Minute, 7)
	if err != nil || next.ID == r.ID || next.AdmitRate != 7 {
		t.Fatalf("the next rush: %+v, %v", next, err)
	}
	var tickets int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM booking_rush_ticket`).Scan(&tickets); err != nil || tickets != 0 {
		t.Errorf("%d tickets of the old rush left (%v)", tickets, err)
	}
	if n, _, _ := store.TakeTicket(ctx, db, next.ID, []byte("client-3"), 0, time.Minute); n != 1 {
		t.Errorf("the next rush's first ticket: %d", n)
	}

	// The sweep deletes the tickets of a rush that is over.
	if err := store.DeleteStaleCounters(ctx, db, time.Now()); err != nil {
		t.Fatal(err)
	}
	if db.QueryRow(ctx, `SELECT count(*) FROM booking_rush_ticket`).Scan(&tickets); tickets != 1 {
		t.Errorf("%d tickets of a rush that is on after the sweep, want 1", tickets)
	}
	if err := store.DeleteStaleCounters(ctx, db, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if db.QueryRow(ctx, `SELECT count(*) FROM booking_rush_ticket`).Scan(&tickets); tickets != 0 {
		t.Errorf("%d tickets of a rush that is over after the sweep", tickets)
	}
}

// BenchmarkTakeTicket hands out new tickets of one rush from parallel
// clients: what a crowd's first requests cost, one after the other under
// the rush row's lock.
func BenchmarkTakeTicket(b *testing.B) {
	ctx := context.Background()
	db := storetest.New(b)
	if err := demo.Seed(ctx, db); err != nil {
		b.Fatal(err)
	}
	o, err := store.GetOfficeBySlug(ctx, db, "leipzig")
	if err != nil {
		b.Fatal(err)
	}
	r, err := store.StartRush(ctx, db, o.ID, "belehrung-infektionsschutz", 5*time.Minute, 5)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			client := fmt.Appendf(nil, "client-%d", next.Add(1))
			if _, ok, err := store.TakeTicket(ctx, db, r.ID, client, 0, time.Minute); err != nil || !ok {
				b.Error(ok, err)
				return
			}
		}
	})
}
