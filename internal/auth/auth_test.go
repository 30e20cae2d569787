package auth_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// from is a client at a documentation address.
var from = auth.Client{Addr: "192.0.2.1"}

func newService(t *testing.T) (*auth.Service, *store.DB, int64) {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t)
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := store.GetOfficeBySlug(ctx, db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	return svc, db, o.ID
}

func TestPasswordHash(t *testing.T) {
	h := auth.HashPassword("richtig-und-lang")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || h == auth.HashPassword("richtig-und-lang") {
		t.Fatalf("hash %q (salted hashes must differ)", h)
	}
}

func TestLoginSessionsAndLockout(t *testing.T) {
	ctx := context.Background()
	svc, db, office := newService(t)
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "kurz@x.test", Name: "K", Role: "admin", Password: "kurz"}); fault.KindOf(err) != fault.Invalid {
		t.Errorf("short password: %v", err)
	}
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "A@X.test", Name: "A", Role: "caseworker", Password: "richtig-und-lang", TOTPSecret: secret}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "a@x.test", Name: "B", Role: "admin", Password: "richtig-und-lang"}); fault.KindOf(err) != fault.Conflict {
		t.Errorf("the same address twice: %v", err)
	}

	// Password, then code: the half session opens nothing.
	half, next, _, err := svc.Login(ctx, " A@x.TEST ", "richtig-und-lang", from)
	if err != nil || next != auth.NeedCode {
		t.Fatalf("login: %v %v", next, err)
	}
	if _, err := svc.Session(ctx, half); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a half session is a session: %v", err)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	full, device, err := svc.VerifyCode(ctx, half, code, from)
	if err != nil || full == half || device == "" {
		t.Fatalf("code: %v (token renewed: %v)", err, full != half)
	}
	st, err := svc.Session(ctx, full)
	if err != nil || st.Email != "a@x.test" || st.OfficeID != office || st.Role != "caseworker" {
		t.Fatalf("session: %+v %v", st, err)
	}
	if _, _, err := svc.VerifyCode(ctx, half, code, from); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the half session survived its completion: %v", err)
	}

	// Idle sessions die.
	if _, err := db.Exec(ctx, `UPDATE staff_session SET last_seen = now() - interval '31 minutes'`); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Session(ctx, full); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a session idle for 31 minutes lives: %v", err)
	}

	// Five wrong passwords from a client: its next attempt waits, unseen,
	// even with the right password. Another client, and the browser that
	// logged in before (its device token), are not held up.
	for range 5 {
		if _, _, _, err := svc.Login(ctx, "a@x.test", "falsch", from); fault.MessageOf(err) != auth.MsgLoginFailed {
			t.Fatalf("wrong password: %v", err)
		}
	}
	var te *auth.ThrottledError
	if _, _, _, err := svc.Login(ctx, "a@x.test", "richtig-und-lang", from); fault.KindOf(err) != fault.TooMany || !errors.As(err, &te) || te.Wait <= 0 {
		t.Errorf("the sixth attempt of a client: %v", err)
	}
	if _, _, _, err := svc.Login(ctx, "a@x.test", "richtig-und-lang", auth.Client{Addr: "198.51.100.7"}); err != nil {
		t.Errorf("another client: %v", err)
	}
	if _, _, _, err := svc.Login(ctx, "a@x.test", "richtig-und-lang", auth.Client{Addr: from.Addr, Device: device}); err != nil {
		t.Errorf("the owner's browser: %v", err)
	}
	if _, _, _, err := svc.Login(ctx, "niemand@x.test", "richtig-und-lang", from); fault.MessageOf(err) != auth.MsgLoginFailed {
		t.Errorf("unknown address: %v", err)
	}
}

func TestLogoutEverywhereAndDisabledAccounts(t *testing.T) {
	ctx := context.Background()
	svc, db, office := newService(t)
	id, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "c@x.test", Name: "C", Role: "caseworker", Password: "richtig-und-lang", TOTPSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	// Each login in its own TOTP time step: a code counts only once.
	clock := time.Now()
	auth.SetClock(svc, func() time.Time { return clock })
	login := func() string {
		clock = clock.Add(30 * time.Second)
		half, _, _, err := svc.Login(ctx, "c@x.test", "richtig-und-lang", from)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(secret, clock)
		full, _, err := svc.VerifyCode(ctx, half, code, from)
		if err != nil {
			t.Fatal(err)
		}
		return full
	}
	a, b := login(), login()
	if err := svc.LogoutEverywhere(ctx, auth.Staff{ID: id, OfficeID: office}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{a, b} {
		if _, err := svc.Session(ctx, tok); fault.KindOf(err) != fault.NotFound {
			t.Errorf("a session survived logout everywhere: %v", err)
		}
	}
	c := login()
	if _, err := db.Exec(ctx, `UPDATE staff SET disabled = true WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Session(ctx, c); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a disabled account's session lives: %v", err)
	}
}

// Wrong codes count per account, apart from passwords, and a correct
// password clears nothing: 12 wrong codes over 3 logins, and the right
// code then waits like any other (before, each correct password reset
// the count, so codes could be guessed without end).
func TestWrongCodesAreThrottledAcrossLogins(t *testing.T) {
	ctx := context.Background()
	svc, _, office := newService(t)
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "d@x.test", Name: "D", Role: "physician", Password: "richtig-und-lang", TOTPSecret: secret}); err != nil {
		t.Fatal(err)
	}
	refused := 0
	var half string
	for login := range 3 {
		var err error
		half, _, _, err = svc.Login(ctx, "d@x.test", "richtig-und-lang", auth.Client{Addr: "192.0.2." + strconv.Itoa(login+1)})
		if err != nil {
			t.Fatalf("login %d: %v", login+1, err)
		}
		for range 4 {
			switch _, _, err := svc.VerifyCode(ctx, half, "000000", from); {
			case fault.MessageOf(err) == auth.MsgCodeWrong:
			case fault.KindOf(err) == fault.TooMany:
				refused++
			default:
				t.Fatalf("wrong code: %v", err)
			}
		}
	}
	if refused != 12-5 {
		t.Errorf("%d of 12 wrong codes refused unseen, want all after the fifth", refused)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	if _, _, err := svc.VerifyCode(ctx, half, code, from); fault.KindOf(err) != fault.TooMany {
		t.Errorf("the right code after 12 wrong ones: %v", err)
	}
}

// Attempts sent in parallel pass no limit together: of 40 wrong passwords
// and the right one, sent at once from one client, at most the five free
// attempts are looked at (before, each read the count, then wrote it).
func TestParallelPasswordsPassNoLimit(t *testing.T) {
	ctx := context.Background()
	svc, db, office := newService(t)
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "p@x.test", Name: "P", Role: "caseworker", Password: "richtig-und-lang", TOTPSecret: secret}); err != nil {
		t.Fatal(err)
	}
	auth.SlowThrottles(svc) // the hashes queue for a few seconds: no delay may end meanwhile
	var wg sync.WaitGroup
	results := make(chan error, 41)
	for i := range 41 {
		password := "falsch-" + strconv.Itoa(i)
		if i == 20 {
			password = "richtig-und-lang"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _, err := svc.Login(ctx, "p@x.test", password, from)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	looked := 0
	for err := range results {
		if k := fault.KindOf(err); k != fault.TooMany && k != fault.Unavailable { // Unavailable: no hash slot in time
			looked++
		}
	}
	var failed int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'login.failed'`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if looked > 5 || failed > 5 || looked == 0 {
		t.Errorf("%d of 41 parallel attempts looked at (%d recorded as failed), want 1 to 5", looked, failed)
	}
}

// The code a new authenticator proves is for the secret the server
// offered: whatever secret a browser posts is not taken (before, an
// all-zero secret of the browser's choosing was).
func TestEnrolmentKeepsTheSecretOnTheServer(t *testing.T) {
	ctx := context.Background()
	svc, db, office := newService(t)
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "e@x.test", Name: "E", Role: "admin", Password: "richtig-und-lang"}); err != nil {
		t.Fatal(err)
	}
	half, _, _, err := svc.Login(ctx, "e@x.test", "richtig-und-lang", from)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := svc.Enrol(ctx, half, "123456", from); fault.KindOf(err) != fault.NotFound {
		t.Errorf("enrolment before a secret was offered: %v", err)
	}
	e, err := svc.NewEnrolment(ctx, half)
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.NewEnrolment(ctx, half)
	if err != nil || again.Secret != e.Secret {
		t.Errorf("the page shown again offers another secret (%v)", err)
	}
	zeros := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	code, _ := totp.GenerateCode(zeros, time.Now())
	if _, _, _, err := svc.Enrol(ctx, half, code, from); fault.MessageOf(err) != auth.MsgCodeWrong {
		t.Errorf("a code of another secret: %v", err)
	}
	code, _ = totp.GenerateCode(e.Secret, time.Now())
	if _, _, _, err := svc.Enrol(ctx, half, code, from); err != nil {
		t.Fatalf("the offered secret's code: %v", err)
	}
	var enrolled bool
	if err := db.QueryRow(ctx, `SELECT totp_secret IS NOT NULL FROM staff WHERE email = 'e@x.test'`).Scan(&enrolled); err != nil || !enrolled {
		t.Errorf("not enrolled: %v", err)
	}
}

// Enrolment and the code check are one transaction with the new session:
// when the session cannot be made (here: the database refuses it), no
// secret, recovery code or spent code is left behind, and the same step
// succeeds once the database takes it.
func TestSecondFactorStepsAreAllOrNothing(t *testing.T) {
	ctx := context.Background()
	svc, db, office := newService(t)
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "neu@x.test", Name: "N", Role: "admin", Password: "richtig-und-lang"}); err != nil {
		t.Fatal(err)
	}
	refuseSessions := func(on bool) {
		t.Helper()
		sql := `DROP TRIGGER IF EXISTS refuse ON staff_session`
		if on {
			sql = `CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
				CREATE TRIGGER refuse BEFORE INSERT ON staff_session FOR EACH ROW EXECUTE FUNCTION refuse()`
		}
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	state := func() (enrolled bool, codes, unused int) {
		t.Helper()
		if err := db.QueryRow(ctx, `SELECT s.totp_secret IS NOT NULL,
			(SELECT count(*) FROM staff_recovery_code c WHERE c.staff_id = s.id),
			(SELECT count(*) FROM staff_recovery_code c WHERE c.staff_id = s.id AND c.used_at IS NULL)
			FROM staff s WHERE s.email = 'neu@x.test'`).Scan(&enrolled, &codes, &unused); err != nil {
			t.Fatal(err)
		}
		return
	}

	half, next, _, err := svc.Login(ctx, "neu@x.test", "richtig-und-lang", from)
	if err != nil || next != auth.NeedEnrol {
		t.Fatalf("login: %v %v", next, err)
	}
	e, err := svc.NewEnrolment(ctx, half)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(e.Secret, time.Now())
	refuseSessions(true)
	if _, _, _, err := svc.Enrol(ctx, half, code, from); err == nil {
		t.Fatal("enrolled without a session")
	}
	if enrolled, codes, _ := state(); enrolled || codes != 0 {
		t.Fatalf("a failed enrolment left the secret (%v) and %d recovery codes", enrolled, codes)
	}
	refuseSessions(false)
	full, _, recovery, err := svc.Enrol(ctx, half, code, from) // the same code: it was not spent
	if err != nil || len(recovery) != 10 {
		t.Fatalf("enrolment after the failure: %d codes, %v", len(recovery), err)
	}
	if err := svc.Logout(ctx, full); err != nil {
		t.Fatal(err)
	}

	// A recovery code is spent only with the session it opens.
	half, next, _, err = svc.Login(ctx, "neu@x.test", "richtig-und-lang", from)
	if err != nil || next != auth.NeedCode {
		t.Fatalf("second login: %v %v", next, err)
	}
	refuseSessions(true)
	if _, _, err := svc.VerifyCode(ctx, half, recovery[0], from); err == nil {
		t.Fatal("logged in without a session")
	}
	if _, _, unused := state(); unused != 10 {
		t.Errorf("a failed login spent a recovery code: %d unused", unused)
	}
	refuseSessions(false)
	if _, _, err := svc.VerifyCode(ctx, half, recovery[0], from); err != nil {
		t.Fatalf("the recovery code after the failure: %v", err)
	}
	if _, _, unused := state(); unused != 9 {
		t.Errorf("%d unused recovery codes after using one, want 9", unused)
	}
}

// A known and an unknown address cost the same work: the password hash
// (of a dummy for the unknown one) and one write transaction each, so the
// same number of commits (and fsyncs, the costly part) per attempt.
// Before, a known address took three transactions, an unknown one none.
func TestUnknownAddressesCostTheSameTransactions(t *testing.T) {
	ctx := context.Background()
	_, db, office := newService(t)
	cfg := db.Config()
	count := &statements{}
	cfg.ConnConfig.Tracer = count
	traced, err := store.OpenConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer traced.Close()
	svc, err := auth.New(traced, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "k@x.test", Name: "K", Role: "caseworker", Password: "richtig-und-lang"}); err != nil {
		t.Fatal(err)
	}
	attempt := func(email string) (commits, writes int) {
		t.Helper()
		count.reset()
		if _, _, _, err := svc.Login(ctx, email, "falsch", auth.Client{Addr: "203.0.113.5"}); fault.MessageOf(err) != auth.MsgLoginFailed {
			t.Fatalf("%s: %v", email, err)
		}
		return count.get()
	}
	kc, kw := attempt("k@x.test")
	uc, uw := attempt("niemand@x.test")
	t.Logf("known address: %d write transactions, %d statements written; unknown: %d, %d", kc, kw, uc, uw)
	if kc != uc || kc != 1 {
		t.Errorf("a wrong password for a known address takes %d write transactions, for an unknown one %d; want 1 each", kc, uc)
	}
}

// statements counts the write transactions (a commit after a write) and
// the writing statements sent through a pool.
type statements struct {
	mu             sync.Mutex
	commits, write int
	pending        bool // a write since the last BEGIN
}

func (s *statements) reset() { s.mu.Lock(); s.commits, s.write, s.pending = 0, 0, false; s.mu.Unlock() }

func (s *statements) get() (int, int) { s.mu.Lock(); defer s.mu.Unlock(); return s.commits, s.write }

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	sql := strings.ToUpper(strings.TrimSpace(d.SQL))
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case sql == "COMMIT":
		if s.pending {
			s.commits++
		}
		s.pending = false
	case sql == "BEGIN" || strings.HasPrefix(sql, "BEGIN "):
		s.pending = false
	case strings.HasPrefix(sql, "INSERT"), strings.HasPrefix(sql, "UPDATE"), strings.HasPrefix(sql, "DELETE"), strings.HasPrefix(sql, "WITH"):
		s.write++
		s.pending = true
	}
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
