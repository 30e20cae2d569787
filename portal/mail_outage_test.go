package portal_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The database goes away at the moment the relay accepts a mail (the
// sink cuts it before it answers "250 OK") and comes back 1.5 s later:
// the worker cannot write that the mail went out. It keeps trying until
// the database takes the record, so no job runs again and every mail
// arrives once.
func TestDatabaseLostAfterTheRelayAcceptedSendsOnce(t *testing.T) {
	h, proxy := outageHarness(t)
	sink, _, _ := startMail(t, h, "")
	sink.SetDelay(50 * time.Millisecond) // mails in flight when it happens
	const n = 12
	sink.Stop() // the mails wait until every submission is in
	for i := range n {
		h.submitGutachtenWith(t, "leipzig", map[string]string{"email": fmt.Sprintf("b%d@example.org", i)})
	}
	var once sync.Once
	cut, restored := make(chan struct{}), make(chan struct{})
	sink.OnAccept(func(mailtest.Received) {
		if len(sink.Mails()) < 4 {
			return
		}
		once.Do(func() {
			proxy.Cut()
			close(cut)
			go func() { time.Sleep(1500 * time.Millisecond); proxy.Restore(); close(restored) }()
		})
	})
	sink.Restart()
	<-cut
	sink.Wait(2*n, 60*time.Second) // a receipt and an office notice each
	<-restored
	waitJobsDone(t, h)
	time.Sleep(time.Second) // a job run again would send now
	ids := sink.MessageIDs()
	twice := 0
	for id, k := range ids {
		if k > 1 {
			twice++
			t.Errorf("%s arrived %d times", id, k)
		}
	}
	if len(ids) != 2*n || len(sink.Mails()) != 2*n {
		t.Errorf("%d mails, %d distinct; want %d once each (%d twice)", len(sink.Mails()), len(ids), 2*n, twice)
	}
}

// The database away for longer than a mail job's time: the job gives up
// writing the record, but the worker keeps the key and tries on in the
// background; when River runs the job again in this process (it could
// not mark it done either), the worker writes the record instead of
// sending the mail a second time, and once the database is back the
// record is there for any process.
func TestRecordLostForLongerThanTheJobSendsOnce(t *testing.T) {
	ctx := context.Background()
	h, proxy := outageHarness(t)
	sink := mailtest.Start(t)
	sender, err := mail.NewSMTP("smtp://"+sink.Addr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	w, _ := newMailWorker(t, h, sender)
	w.JobTimeout = 300 * time.Millisecond
	id, _ := h.submitGutachten(t, "leipzig")
	leipzig, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("receipt:%d", id)
	job := &river.Job[mail.Args]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1},
		Args: mail.Args{Key: key, Template: mail.TemplateReceipt, OfficeID: leipzig.ID, SubmissionID: id}}
	work := func() error {
		ctx, cancel := context.WithTimeout(ctx, w.Timeout(job))
		defer cancel()
		return w.Work(ctx, job)
	}

	sink.OnAccept(func(mailtest.Received) { proxy.Cut() })
	start := time.Now()
	if err := work(); err != nil {
		t.Fatalf("the mail went out, yet the job failed: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the record was tried for %v, longer than the job's time", took)
	}
	sink.OnAccept(nil)
	job.Attempt = 2
	if err := work(); err != nil || len(sink.Mails()) != 1 {
		t.Fatalf("a run while the database is still away: %v, %d mails; want none and 1 mail", err, len(sink.Mails()))
	}
	proxy.Restore()
	var sent bool
	for deadline := time.Now().Add(10 * time.Second); !sent && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		sent, _ = store.MailSent(ctx, h.db, key)
	}
	if !sent {
		t.Error("the record was not written in the background once the database was back")
	}
	job.Attempt = 3
	if err := work(); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.Mails()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}
