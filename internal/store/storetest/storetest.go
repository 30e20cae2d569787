// Package storetest gives tests a real, freshly migrated PostgreSQL database
// each: one embedded cluster per test process (or the server named by
// TEST_DATABASE_URL), a migrated template database, and a clone of it per
// test (CREATE DATABASE ... TEMPLATE), which takes milliseconds.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
)

// server is the test process's database server. Tests share it, never a
// database: each test gets its own clone of the template.
type server struct {
	adminDSN string
	dsn      func(db string) string
	template string

	mu   sync.Mutex // serialises CREATE DATABASE from the template
	next int
}

var srv *server // set by Main for the test binary's life

// Main starts the server, builds the template, runs m and stops the server.
// It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	stop, err := setUp()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	code := m.Run()
	stop()
	return code
}

func setUp() (stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &server{template: fmt.Sprintf("tmpl_%d", os.Getpid())}
	var cleanup []func()
	stop = func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}

	if base := os.Getenv("TEST_DATABASE_URL"); base != "" {
		s.adminDSN = base
		s.dsn = func(db string) string { return withDatabase(base, db) }
	} else {
		dir, err := os.MkdirTemp("", "storetest-")
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { os.RemoveAll(dir) })
		cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: dir, Settings: fastSettings()})
		if err != nil {
			stop()
			return nil, err
		}
		cleanup = append(cleanup, func() { _ = cluster.Stop() })
		s.adminDSN = cluster.DSN("postgres")
		s.dsn = cluster.DSN
	}

	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.template}.Sanitize()); err != nil {
		stop()
		return nil, err
	}
	cleanup = append(cleanup, func() {
		_ = s.exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{s.template}.Sanitize()+" WITH (FORCE)")
	})
	db, err := store.Open(ctx, s.dsn(s.template))
	if err != nil {
		stop()
		return nil, err
	}
	err = db.Migrate(ctx, slog.New(slog.DiscardHandler))
	db.Close()
	if err != nil {
		stop()
		return nil, err
	}
	srv = s
	return stop, nil
}

// fastSettings trade durability for speed: right for throwaway test and
// benchmark clusters, wrong for anything else.
func fastSettings() map[string]string {
	return map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
}

// DSN creates a fresh migrated database for t and returns its connection
// string; the database is dropped when t ends.
func DSN(t testing.TB) string {
	t.Helper()
	if srv == nil {
		t.Fatal("storetest: call storetest.Main from TestMain")
	}
	srv.mu.Lock()
	srv.next++
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), srv.next)
	err := srv.exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{srv.template}.Sanitize())
	srv.mu.Unlock()
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.exec(context.Background(), "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return srv.dsn(name)
}

// EmptyDSN creates a fresh database for t without any migration, as a new
// installation's is (for restores and upgrades), and returns its
// connection string; the database is dropped when t ends.
func EmptyDSN(t testing.TB) string {
	t.Helper()
	if srv == nil {
		t.Fatal("storetest: call storetest.Main from TestMain")
	}
	srv.mu.Lock()
	srv.next++
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), srv.next)
	srv.mu.Unlock()
	if err := srv.exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.exec(context.Background(), "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return srv.dsn(name)
}

// New returns a fresh migrated database for t, closed and dropped when t
// ends.
func New(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), DSN(t))
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminDSN)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// withDatabase returns dsn (URL or keyword/value form) naming database db.
func withDatabase(dsn, db string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return dsn + " dbname=" + db
}

// AuditHashes returns the hash of every audit entry of db by id: what a
// copy of the database must hold alike.
func AuditHashes(t testing.TB, db *store.DB) map[int64]string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id, encode(hash, 'hex') FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var h string
		if err := rows.Scan(&id, &h); err != nil {
			t.Fatal(err)
		}
		out[id] = h
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
