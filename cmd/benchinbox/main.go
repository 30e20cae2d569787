// Command benchinbox measures the inbox at a million cases against a running
// portal (started with PORTAL_DEMO=1, PORTAL_DEMO_PASSWORD and
// PORTAL_DEMO_TOTP): it seeds a million submissions into one office with
// COPY (once; a second run reuses them), logs in as the office's demo
// caseworker and physician, and times, one request after another with
// nothing else running, the first inbox page with a status filter, a
// full-text search, and a page deep in the list. With -explain it prints
// EXPLAIN ANALYZE of each query instead. .ci/bench-inbox runs it; it is
// not part of the portal.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchinbox:", err)
		os.Exit(1)
	}
}

type options struct {
	base, dataDir, office string
	n, requests           int
	explain               bool
}

func run() error {
	var o options
	flag.StringVar(&o.base, "url", "http://127.0.0.1:18081", "the portal")
	flag.StringVar(&o.dataDir, "data", "./var", "the portal's PORTAL_DATA_DIR (its embedded PostgreSQL)")
	flag.StringVar(&o.office, "office", "leipzig", "the office to seed")
	flag.IntVar(&o.n, "n", 1_000_000, "submissions to seed")
	flag.IntVar(&o.requests, "r", 300, "requests per measurement")
	flag.BoolVar(&o.explain, "explain", false, "print EXPLAIN ANALYZE of the inbox queries instead of timing")
	flag.Parse()
	ctx := context.Background()

	cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: o.dataDir + "/pg"})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	pool, err := pgxpool.New(ctx, cluster.DSN("portal"))
	if err != nil {
		return err
	}
	defer pool.Close()

	var officeID int64
	if err := pool.QueryRow(ctx, `SELECT id FROM office WHERE slug = $1`, o.office).Scan(&officeID); err != nil {
		return fmt.Errorf("the portal must run with PORTAL_DEMO=1: %w", err)
	}
	seedSecs, err := seed(ctx, pool, officeID, o.n)
	if err != nil {
		return err
	}
	deep, err := deepCursor(ctx, pool, officeID, o.n*9/10)
	if err != nil {
		return err
	}
	if o.explain {
		return explain(ctx, pool, officeID, deep)
	}

	password, secret := os.Getenv("PORTAL_DEMO_PASSWORD"), os.Getenv("PORTAL_DEMO_TOTP")
	worker, err := logIn(o.base, "sachbearbeitung@"+o.office+".example", password, secret)
	if err != nil {
		return err
	}
	doctor, err := logIn(o.base, "aerztin@"+o.office+".example", password, secret)
	if err != nil {
		return err
	}
	token, err := apiToken(ctx, pool, officeID)
	if err != nil {
		return err
	}
	api := &client{base: o.base, http: &http.Client{}, bearer: token}
	rnd := mrand.New(mrand.NewPCG(1, 2))
	out := map[string]any{"seeded": o.n, "seed_seconds": seedSecs}
	for _, m := range []struct {
		name string
		c    *client
		req  func() *http.Request
	}{
		{"status_page", worker, func() *http.Request { return worker.getReq("/staff/?status=in_bearbeitung") }},
		{"first_page", worker, func() *http.Request { return worker.getReq("/staff/") }},
		{"search_name", worker, func() *http.Request {
			return worker.postReq("/staff/suche", url.Values{"q": {familyNames[rnd.IntN(len(familyNames))]}})
		}},
		{"search_name_physician", doctor, func() *http.Request {
			return doctor.postReq("/staff/suche", url.Values{"q": {familyNames[rnd.IntN(len(familyNames))]}})
		}},
		{"search_common_word", worker, func() *http.Request { return worker.postReq("/staff/suche", url.Values{"q": {"Leipzig"}}) }},
		{"search_medical_word", worker, func() *http.Request { return worker.postReq("/staff/suche", url.Values{"q": {"Metformin"}}) }},
		{"deep_page", worker, func() *http.Request { return worker.getReq("/staff/?nach=" + deep) }},
		{"api_status_page", api, func() *http.Request { return api.getReq("/api/v1/submissions?status=in_bearbeitung") }},
		{"api_deep_page", api, func() *http.Request { return api.getReq("/api/v1/submissions?cursor=" + deep) }},
	} {
		lat, err := m.c.time(m.req, o.requests)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		out[m.name+"_p50_ms"] = quantile(lat, 0.5)
		out[m.name+"_p95_ms"] = quantile(lat, 0.95)
		out[m.name+"_p99_ms"] = quantile(lat, 0.99)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// Names and places of the seed: a name matches about one case in
// len(familyNames), as a real surname search would.
var (
	givenNames  = []string{"Anna", "Ben", "Clara", "David", "Emma", "Finn", "Greta", "Hannes", "Ida", "Jonas", "Klara", "Luca", "Mia", "Noah", "Olga", "Paul", "Rosa", "Samir", "Tilda", "Yusuf", "Zoë", "Łukasz", "Ömer", "Ayşe"}
	familyNames = func() []string {
		stems := []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "Kowalski", "Nowak", "Yılmaz", "Kaya", "Popescu", "Ivanova", "Nguyen", "Haddad"}
		suffixes := []string{"", "bach", "berg", "dorf", "feld", "hagen", "hausen", "heim", "mann", "stein", "thal", "wald", "burg", "brück", "hof", "au", "ried", "kamp", "horst", "rode", "see", "moor", "born", "leben", "itz"}
		var out []string
		for _, s := range stems {
			for _, x := range suffixes {
				out = append(out, s+x)
			}
		}
		return out // 1,000 names
	}()
	// A medical answer per case, as the medical report form asks for one.
	medications = []string{"keine", "Ibuprofen bei Bedarf", "Metformin 500 mg", "L-Thyroxin 75 µg", "Ramipril 5 mg", "Salbutamol-Spray", "keine regelmäßigen Medikamente"}
	cities      = []string{"Leipzig", "Markkleeberg", "Taucha", "Schkeuditz", "Markranstädt"}
	statuses    = []struct {
		status domain.Status
		weight int
	}{{domain.Done, 80}, {domain.Rejected, 5}, {domain.InProgress, 8}, {domain.Question, 2}, {domain.Received, 5}}
)

// seed adds submissions to the office until it has n, through COPY into an
// unlogged staging table and one INSERT ... SELECT that computes the
// search vectors with PostgreSQL's German configuration, exactly as a
// submit does. It returns the seconds it took (0 when nothing was missing).
func seed(ctx context.Context, pool *pgxpool.Pool, officeID int64, n int) (float64, error) {
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM submission WHERE office_id = $1`, officeID).Scan(&have); err != nil {
		return 0, err
	}
	if have >= n {
		return 0, nil
	}
	start := time.Now()
	type form struct{ id, hash, service, code string }
	var fs []form
	rows, err := pool.Query(ctx, `
SELECT d.form_id, d.hash, s.slug, o.code FROM form_definition d
JOIN service s ON s.form_ref = d.form_id JOIN office o ON o.id = $1`, officeID)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var f form
		if err := rows.Scan(&f.id, &f.hash, &f.service, &f.code); err != nil {
			return 0, err
		}
		fs = append(fs, f)
	}
	if rows.Err() != nil || len(fs) == 0 {
		return 0, fmt.Errorf("no form definitions: start the portal once first (%v)", rows.Err())
	}
	var staff []int64
	if err := pgxCollect(ctx, pool, &staff, `SELECT id FROM staff WHERE office_id = $1`, officeID); err != nil {
		return 0, err
	}
	if _, err := pool.Exec(ctx, `
CREATE UNLOGGED TABLE IF NOT EXISTS bench_seed (
    service_slug text, form_id text, form_hash text, reference text, access_token_hash bytea, draft_id bigint,
    status text, data jsonb, record_sha256 bytea, submitted_at timestamptz, applicant text, assignee_id bigint,
    unread boolean, search_text text, medical_text text)`); err != nil {
		return 0, err
	}
	defer pool.Exec(context.Background(), `DROP TABLE IF EXISTS bench_seed`) //nolint:errcheck
	rnd := mrand.New(mrand.NewPCG(42, uint64(have)))
	now := time.Now()
	var minDraft int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(min(draft_id), 0) FROM submission`).Scan(&minDraft); err != nil {
		return 0, err
	}
	missing := n - have
	const batch = 100_000
	for done := 0; done < missing; done += batch {
		size := min(batch, missing-done)
		data := make([][]any, size)
		for i := range data {
			f := fs[rnd.IntN(len(fs))]
			given, family := givenNames[rnd.IntN(len(givenNames))], familyNames[rnd.IntN(len(familyNames))]
			city := cities[rnd.IntN(len(cities))]
			at := now.Add(-time.Duration(rnd.Int64N(int64(3 * 365 * 24 * time.Hour))))
			st := pick(rnd)
			var assignee any
			if st != domain.Received && len(staff) > 0 {
				assignee = staff[rnd.IntN(len(staff))]
			}
			answers := map[string]any{
				"given_name": given, "family_name": family, "date_of_birth": fmt.Sprintf("19%02d-%02d-%02d", 40+rnd.IntN(60), 1+rnd.IntN(12), 1+rnd.IntN(28)),
				"street": "Hauptstraße " + strconv.Itoa(1+rnd.IntN(200)), "postal_code": "04" + fmt.Sprintf("%03d", rnd.IntN(1000)), "city": city,
				"email":   strings.ToLower(ascii(given)) + "." + strings.ToLower(ascii(family)) + "@example.org",
				"message": "Bitte um einen Termin am Vormittag.",
			}
			record, _ := json.Marshal(map[string]any{"form": f.id, "version": 1, "form_hash": f.hash, "locale": "de", "answers": answers})
			sum := sha256.Sum256(record)
			token := make([]byte, 32)
			_, _ = rand.Read(token)
			text := strings.Join([]string{given, family, answers["date_of_birth"].(string), answers["street"].(string), answers["postal_code"].(string), city, answers["email"].(string), answers["message"].(string)}, "\n")
			data[i] = []any{f.service, f.id, f.hash, submission.NewReference(f.code, at.Year()), token, minDraft - int64(done+i) - 1,
				string(st), record, sum[:], at, family + ", " + given, assignee, st == domain.Received, text, medications[rnd.IntN(len(medications))]}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_seed"}, []string{
			"service_slug", "form_id", "form_hash", "reference", "access_token_hash", "draft_id", "status", "data", "record_sha256",
			"submitted_at", "applicant", "assignee_id", "unread", "search_text", "medical_text"}, pgx.CopyFromRows(data)); err != nil {
			return 0, fmt.Errorf("copy: %w", err)
		}
		if _, err := pool.Exec(ctx, `
INSERT INTO submission (office_id, service_slug, form_id, form_version, form_hash, locale, reference, access_token_hash,
                        draft_id, status, data, record_sha256, submitted_at, updated_at, applicant, assignee_id, unread,
                        search, search_all)
SELECT $1, service_slug, form_id, 1, form_hash, 'de', reference, access_token_hash, draft_id, status, data, record_sha256,
       submitted_at, submitted_at, applicant, assignee_id, unread,
       to_tsvector('german', search_text), to_tsvector('german', search_text) || to_tsvector('german', medical_text)
FROM bench_seed
ON CONFLICT DO NOTHING`, officeID); err != nil {
			return 0, fmt.Errorf("insert: %w", err)
		}
		if _, err := pool.Exec(ctx, `TRUNCATE bench_seed`); err != nil {
			return 0, err
		}
		fmt.Fprintf(os.Stderr, "benchinbox: seeded %d of %d\n", done+size, missing)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE submission`); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

func pick(rnd *mrand.Rand) domain.Status {
	x := rnd.IntN(100)
	for _, s := range statuses {
		if x < s.weight {
			return s.status
		}
		x -= s.weight
	}
	return statuses[0].status
}

// ascii folds a name for an e-mail address.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 {
			return r
		}
		return 'x'
	}, s)
}

func pgxCollect(ctx context.Context, pool *pgxpool.Pool, out *[]int64, sql string, args ...any) error {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	*out = ids
	return err
}

// deepCursor returns the inbox cursor of the case at position pos of the
// office's list, newest first.
func deepCursor(ctx context.Context, pool *pgxpool.Pool, officeID int64, pos int) (string, error) {
	var at time.Time
	var id int64
	err := pool.QueryRow(ctx, `SELECT submitted_at, id FROM submission WHERE office_id = $1
ORDER BY submitted_at DESC, id DESC OFFSET $2 LIMIT 1`, officeID, pos).Scan(&at, &id)
	if err != nil {
		return "", fmt.Errorf("deep cursor: %w", err)
	}
	return strconv.FormatInt(at.UnixMicro(), 10) + "-" + strconv.FormatInt(id, 10), nil
}

// explain prints EXPLAIN (ANALYZE, BUFFERS) of the inbox queries as the
// portal runs them (store.CaseQuery), second run (warm cache).
func explain(ctx context.Context, pool *pgxpool.Pool, officeID int64, deep string) error {
	at, id, _ := strings.Cut(deep, "-")
	us, _ := strconv.ParseInt(at, 10, 64)
	cid, _ := strconv.ParseInt(id, 10, 64)
	for _, q := range []struct {
		title string
		f     store.CaseFilter
	}{
		{"First inbox page, status filter", store.CaseFilter{OfficeID: officeID, Status: domain.InProgress, Limit: 51}},
		{"Full-text search (a surname), caseworker", store.CaseFilter{OfficeID: officeID, Text: familyNames[123], Limit: 51}},
		{"Full-text search (a surname), physician: medical answers too", store.CaseFilter{OfficeID: officeID, Text: familyNames[123], Medical: true, Limit: 51}},
		{"Full-text search (a word in most cases)", store.CaseFilter{OfficeID: officeID, Text: "Leipzig", Limit: 51}},
		{"Full-text search, caseworker, a word only in medical answers (no hit)", store.CaseFilter{OfficeID: officeID, Text: "Metformin", Limit: 51}},
		{"Reference number", store.CaseFilter{OfficeID: officeID, Reference: "LEJ-2026-0000-0000", Limit: 51}},
		{"Deep keyset page (90 % down the list)", store.CaseFilter{OfficeID: officeID, After: store.Cursor{At: time.UnixMicro(us), ID: cid}, Limit: 51}},
	} {
		sql, args := store.CaseQuery(q.f)
		var plan []string
		for range 2 {
			rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+sql, args...)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
		}
		fmt.Printf("### %s\n\n```sql\n%s\n```\n\n```\n%s\n```\n\n", q.title, sql, strings.Join(plan, "\n"))
	}
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM case_count WHERE office_id = $1`, officeID).Scan(&n); err != nil {
		return err
	}
	rows, err := pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT status, sum(n)::bigint, count(*) FROM case_count WHERE office_id = $1 GROUP BY status`, officeID)
	if err != nil {
		return err
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	fmt.Printf("### Counts per status (%d delta rows)\n\n```\n%s\n```\n", n, strings.Join(plan, "\n"))
	return nil
}

// client is a logged-in staff member's browser, or a Fachverfahren with
// an API token.
type client struct {
	base   string
	http   *http.Client
	token  string // CSRF token of the last page
	bearer string // API token
}

// apiToken makes an API token of the office that may read submissions,
// stored as the portal stores them (the SHA-256 of the secret).
func apiToken(ctx context.Context, pool *pgxpool.Pool, officeID int64) (string, error) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "gap_" + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	_, err := pool.Exec(ctx, `INSERT INTO api_token (office_id, name, token_hash, scopes) VALUES ($1, 'benchinbox', $2, '{submissions:read}')`, officeID, sum[:])
	return secret, err
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func logIn(base, email, password, secret string) (*client, error) {
	jar, _ := cookiejar.New(nil)
	c := &client{base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if _, err := c.do(c.getReq("/staff/login")); err != nil {
		return nil, err
	}
	res, err := c.do(c.postReq("/staff/login", url.Values{"email": {email}, "password": {password}}))
	if err != nil || res != http.StatusSeeOther {
		return nil, fmt.Errorf("login %s: %d %v (PORTAL_DEMO_PASSWORD set?)", email, res, err)
	}
	if _, err := c.do(c.getReq("/staff/login/code")); err != nil {
		return nil, err
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		return nil, fmt.Errorf("TOTP (PORTAL_DEMO_TOTP set?): %w", err)
	}
	if res, err := c.do(c.postReq("/staff/login/code", url.Values{"code": {code}})); err != nil || res != http.StatusSeeOther {
		return nil, fmt.Errorf("code %s: %d %v", email, res, err)
	}
	_, err = c.do(c.getReq("/staff/"))
	return c, err
}

func (c *client) getReq(path string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return req
}

func (c *client) postReq(path string, form url.Values) *http.Request {
	form.Set("_csrf", c.token)
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func (c *client) do(req *http.Request) (int, error) {
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		c.token = string(m[1])
	}
	return res.StatusCode, err
}

// time sends n requests made by req one after another (after a few to
// warm up) and returns their durations, failing on any answer but 200.
func (c *client) time(req func() *http.Request, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := range n + 10 {
		start := time.Now()
		status, err := c.do(req())
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("status %d", status)
		}
		if i >= 10 {
			lat = append(lat, time.Since(start))
		}
	}
	return lat, nil
}

// quantile returns the q-quantile of d in milliseconds.
func quantile(d []time.Duration, q float64) float64 {
	slices.Sort(d)
	return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000
}
