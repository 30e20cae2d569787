// Command benchsubmit measures submissions per second against a
// running portal: it prepares completed drafts of the appointment request
// directly in the portal's database, then posts their submits over HTTP
// from a fixed number of connections for a fixed time, counts the rows
// afterwards, and, with the same client machinery, measures plain
// single-row INSERT transactions on the same database for comparison.
// .ci/bench-http runs it; it is not part of the portal.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/submission"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchsubmit:", err)
		os.Exit(1)
	}
}

func run() error {
	base := flag.String("url", "http://127.0.0.1:18080", "the portal")
	dataDir := flag.String("data", "./var", "the portal's PORTAL_DATA_DIR (its embedded PostgreSQL)")
	conns := flag.Int("c", 32, "connections")
	dur := flag.Duration("d", 30*time.Second, "duration of each measurement")
	drafts := flag.Int("n", 80000, "drafts to prepare (more than can be submitted in -d)")
	flag.Parse()
	ctx := context.Background()

	cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: *dataDir + "/pg"})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	cfg, err := pgxpool.ParseConfig(cluster.DSN("portal"))
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(*conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	tokens, err := prepareDrafts(ctx, pool, *drafts)
	if err != nil {
		return err
	}
	csrfCookie, csrfValue, csrfToken, err := csrf(*base)
	if err != nil {
		return err
	}
	draftCookie := "draft-leipzig-terminanfrage"
	if strings.HasPrefix(csrfCookie, "__Host-") {
		draftCookie = "__Host-" + draftCookie
	}
	var before int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM submission`).Scan(&before); err != nil {
		return err
	}

	// Submits over HTTP.
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	body := url.Values{"_csrf": {csrfToken}, "consent": {forms.CheckboxOn}}.Encode()
	target := *base + "/amt/leipzig/leistungen/terminanfrage/antrag/absenden"
	var next, ok, failed atomic.Int64
	lat := newLatencies()
	posted := measure(*conns, *dur, func() bool {
		i := next.Add(1) - 1
		if int(i) >= len(tokens) {
			return false
		}
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", csrfCookie+"="+csrfValue+"; "+draftCookie+"="+tokens[i])
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			failed.Add(1)
			return true
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		lat.add(time.Since(start))
		if res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/status/") {
			ok.Add(1)
		} else {
			failed.Add(1)
		}
		return true
	})
	if int(next.Load()) >= len(tokens) {
		return fmt.Errorf("ran out of drafts: prepare more than %d", len(tokens))
	}
	var after int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM submission`).Scan(&after); err != nil {
		return err
	}

	// Plain single-row INSERT transactions, same connections, same loop.
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	defer pool.Exec(context.Background(), `DROP TABLE IF EXISTS bench_insert`) //nolint:errcheck
	payload := `{"answers":{"topic":"impfung","given_name":"Łukasz"}}`
	var inserts atomic.Int64
	insertSecs := measure(*conns, *dur/3, func() bool {
		if _, err := pool.Exec(ctx, `INSERT INTO bench_insert (payload) VALUES ($1)`, payload); err == nil {
			inserts.Add(1)
		}
		return true
	})

	rate := float64(ok.Load()) / posted.Seconds()
	insertRate := float64(inserts.Load()) / insertSecs.Seconds()
	out := map[string]any{
		"connections": *conns, "seconds": posted.Seconds(),
		"submits_ok": ok.Load(), "submits_failed": failed.Load(), "rows_added": after - before,
		"submits_per_second": rate, "p50_ms": lat.quantile(0.5), "p99_ms": lat.quantile(0.99),
		"inserts_per_second": insertRate, "ratio_percent": 100 * rate / insertRate,
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// measure runs work from n goroutines until d has passed or work returns
// false, and returns the time it took.
func measure(n int, d time.Duration, work func() bool) time.Duration {
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && work() {
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// prepareDrafts writes n completed drafts of the appointment request at
// the Leipzig office and returns their tokens.
func prepareDrafts(ctx context.Context, pool *pgxpool.Pool, n int) ([]string, error) {
	var officeID int64
	if err := pool.QueryRow(ctx, `SELECT id FROM office WHERE slug = 'leipzig'`).Scan(&officeID); err != nil {
		return nil, fmt.Errorf("the portal must run with PORTAL_DEMO=1: %w", err)
	}
	answers, err := json.Marshal(forms.Answers{
		Values: map[string][]string{
			"topic": {"impfung"}, "message": {"Bitte um Beratung vor einer Reise."},
			"mode": {"video"}, "days": {"mo", "mi"}, "time_of_day": {"vormittags"},
			"given_name": {"Łukasz"}, "family_name": {"Müller-Lüdenscheidt"}, "email": {"lukasz@example.org"},
		},
		Done: []string{"anliegen", "termin", "kontakt"},
	})
	if err != nil {
		return nil, err
	}
	tokens := make([]string, n)
	rows := make([][]any, n)
	expires := time.Now().Add(24 * time.Hour)
	for i := range tokens {
		tokens[i] = submission.NewToken()
		rows[i] = []any{submission.HashToken(tokens[i]), officeID, "terminanfrage", "terminanfrage", answers, expires}
	}
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"draft"},
		[]string{"token_hash", "office_id", "service_slug", "form_id", "answers", "expires_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		return nil, fmt.Errorf("prepare drafts: %w", err)
	}
	_, err = pool.Exec(ctx, `VACUUM ANALYZE draft`)
	return tokens, err
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf fetches a page with a form and returns the CSRF cookie's name and
// value and the form's token: one pair serves every request of the run.
func csrf(base string) (name, value, token string, err error) {
	res, err := http.Get(base + "/fortsetzen")
	if err != nil {
		return "", "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", "", "", err
	}
	m := csrfField.FindSubmatch(b)
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "csrf") && m != nil {
			return c.Name, c.Value, string(m[1]), nil
		}
	}
	return "", "", "", fmt.Errorf("no CSRF cookie and token from %s/fortsetzen", base)
}

// latencies collects request durations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func newLatencies() *latencies { return &latencies{d: make([]time.Duration, 0, 1<<16)} }

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile returns the q-quantile in milliseconds.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return float64(l.d[int(q*float64(len(l.d)-1))]) / float64(time.Millisecond)
}
