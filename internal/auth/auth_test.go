package auth_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

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
	o, err := store.GetOfficeBySlug(ctx, db.Pool, "leipzig")
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
	half, next, err := svc.Login(ctx, " A@x.TEST ", "richtig-und-lang")
	if err != nil || next != auth.NeedCode {
		t.Fatalf("login: %v %v", next, err)
	}
	if _, err := svc.Session(ctx, half); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a half session is a session: %v", err)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	full, err := svc.VerifyCode(ctx, half, code)
	if err != nil || full == half {
		t.Fatalf("code: %v (token renewed: %v)", err, full != half)
	}
	st, err := svc.Session(ctx, full)
	if err != nil || st.Email != "a@x.test" || st.OfficeID != office || st.Role != "caseworker" {
		t.Fatalf("session: %+v %v", st, err)
	}
	if _, err := svc.VerifyCode(ctx, half, code); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the half session survived its completion: %v", err)
	}

	// Idle sessions die.
	if _, err := db.Pool.Exec(ctx, `UPDATE staff_session SET last_seen = now() - interval '31 minutes'`); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Session(ctx, full); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a session idle for 31 minutes lives: %v", err)
	}

	// Five failures lock; the right password then fails the same way.
	for range auth.MaxFailures {
		if _, _, err := svc.Login(ctx, "a@x.test", "falsch"); fault.MessageOf(err) != auth.MsgLoginFailed {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, _, err := svc.Login(ctx, "a@x.test", "richtig-und-lang"); fault.MessageOf(err) != auth.MsgLoginFailed {
		t.Errorf("a locked account logged in: %v", err)
	}
	if _, _, err := svc.Login(ctx, "niemand@x.test", "richtig-und-lang"); fault.MessageOf(err) != auth.MsgLoginFailed {
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
		half, _, err := svc.Login(ctx, "c@x.test", "richtig-und-lang")
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(secret, clock)
		full, err := svc.VerifyCode(ctx, half, code)
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
	if _, err := db.Pool.Exec(ctx, `UPDATE staff SET disabled = true WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Session(ctx, c); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a disabled account's session lives: %v", err)
	}
}

// Wrong codes lock the account like wrong passwords, and a locked account's
// half session can guess no further.
func TestWrongCodesLock(t *testing.T) {
	ctx := context.Background()
	svc, _, office := newService(t)
	if _, err := svc.AddStaff(ctx, auth.NewAccount{OfficeID: office, Email: "d@x.test", Name: "D", Role: "physician", Password: "richtig-und-lang", TOTPSecret: secret}); err != nil {
		t.Fatal(err)
	}
	half, _, err := svc.Login(ctx, "d@x.test", "richtig-und-lang")
	if err != nil {
		t.Fatal(err)
	}
	for range auth.MaxFailures {
		if _, err := svc.VerifyCode(ctx, half, "000000"); fault.MessageOf(err) != auth.MsgCodeWrong {
			t.Fatalf("wrong code: %v", err)
		}
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	if _, err := svc.VerifyCode(ctx, half, code); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the right code after the lockout: %v", err)
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
		if _, err := db.Pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	state := func() (enrolled bool, codes, unused int) {
		t.Helper()
		if err := db.Pool.QueryRow(ctx, `SELECT s.totp_secret IS NOT NULL,
			(SELECT count(*) FROM staff_recovery_code c WHERE c.staff_id = s.id),
			(SELECT count(*) FROM staff_recovery_code c WHERE c.staff_id = s.id AND c.used_at IS NULL)
			FROM staff s WHERE s.email = 'neu@x.test'`).Scan(&enrolled, &codes, &unused); err != nil {
			t.Fatal(err)
		}
		return
	}

	half, next, err := svc.Login(ctx, "neu@x.test", "richtig-und-lang")
	if err != nil || next != auth.NeedEnrol {
		t.Fatalf("login: %v %v", next, err)
	}
	e, err := svc.NewEnrolment(ctx, half)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(e.Secret, time.Now())
	refuseSessions(true)
	if _, _, err := svc.Enrol(ctx, half, e.Secret, code); err == nil {
		t.Fatal("enrolled without a session")
	}
	if enrolled, codes, _ := state(); enrolled || codes != 0 {
		t.Fatalf("a failed enrolment left the secret (%v) and %d recovery codes", enrolled, codes)
	}
	refuseSessions(false)
	full, recovery, err := svc.Enrol(ctx, half, e.Secret, code) // the same code: it was not spent
	if err != nil || len(recovery) != 10 {
		t.Fatalf("enrolment after the failure: %d codes, %v", len(recovery), err)
	}
	if err := svc.Logout(ctx, full); err != nil {
		t.Fatal(err)
	}

	// A recovery code is spent only with the session it opens.
	half, next, err = svc.Login(ctx, "neu@x.test", "richtig-und-lang")
	if err != nil || next != auth.NeedCode {
		t.Fatalf("second login: %v %v", next, err)
	}
	refuseSessions(true)
	if _, err := svc.VerifyCode(ctx, half, recovery[0]); err == nil {
		t.Fatal("logged in without a session")
	}
	if _, _, unused := state(); unused != 10 {
		t.Errorf("a failed login spent a recovery code: %d unused", unused)
	}
	refuseSessions(false)
	if _, err := svc.VerifyCode(ctx, half, recovery[0]); err != nil {
		t.Fatalf("the recovery code after the failure: %v", err)
	}
	if _, _, unused := state(); unused != 9 {
		t.Errorf("%d unused recovery codes after using one, want 9", unused)
	}
}
