package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLibpqConnMovesThePasswordAndDropsPgxParameters(t *testing.T) {
	for _, tt := range []struct {
		dsn, conninfo, password string
	}{
		{"postgres://portal:s3cr%40t@db.example.org:5432/portal?sslmode=verify-full&pool_max_conns=8",
			"postgres://portal@db.example.org:5432/portal?sslmode=verify-full", "s3cr@t"},
		{"postgresql://db.example.org/portal?user=portal&password=pw&statement_cache_capacity=0",
			"postgresql://db.example.org/portal?user=portal", "pw"},
		{"host=/tmp/sock port=5432 user=portal dbname=portal sslmode=disable",
			"dbname='portal' host='/tmp/sock' port='5432' sslmode='disable' user='portal'", ""},
		{`host = db.example.org  password='it\'s \'quoted\' a\\b c' dbname=x pool_max_conns=4 application_name=a\ b`,
			`application_name='a b' dbname='x' host='db.example.org'`, `it's 'quoted' a\b c`},
		{"host='/tmp/with space' dbname=portal", `dbname='portal' host='/tmp/with space'`, ""},
		// Several hosts: libpq reads them from the URL as it is.
		{"postgres://u:pw@a:5432,b:5433/db", "postgres://u@a:5432,b:5433/db", "pw"},
	} {
		conninfo, password, err := libpqConn(tt.dsn)
		if err != nil || conninfo != tt.conninfo || password != tt.password {
			t.Errorf("libpqConn(%q)\n = %q, %q, %v\nwant %q, %q", tt.dsn, conninfo, password, err, tt.conninfo, tt.password)
		}
	}
	for _, bad := range []string{"host", "host=x password='open"} {
		if _, _, err := libpqConn(bad); err == nil {
			t.Errorf("libpqConn(%q) accepted", bad)
		}
	}
}

// TestPasswordGoesToTheEnvironmentNotTheCommandLine runs a stand-in
// pg_dump that prints its arguments and PGPASSWORD.
func TestPasswordGoesToTheEnvironmentNotTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"args: $*\"\necho \"password: $PGPASSWORD\"\necho \"host: $PGHOST\"\n"
	if err := os.WriteFile(filepath.Join(dir, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGHOST", "elsewhere.example.org") // the operator's own variables do not leak in
	var out bytes.Buffer
	if err := runTool(context.Background(), dir, "pg_dump", "postgres://portal:geheim@db.example.org/portal", nil, &out, "--format=custom"); err != nil {
		t.Fatal(err)
	}
	args, rest, _ := strings.Cut(out.String(), "\n")
	if strings.Contains(args, "geheim") || !strings.Contains(args, "--dbname=postgres://portal@db.example.org/portal") {
		t.Errorf("command line %q", args)
	}
	if !strings.Contains(rest, "password: geheim\n") || !strings.Contains(rest, "host: \n") {
		t.Errorf("environment:\n%s", rest)
	}
}
