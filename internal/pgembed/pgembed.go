// Package pgembed runs a private PostgreSQL cluster from the machine's own
// server binaries, for development and tests. The cluster listens on a unix
// socket in a 0700 directory only (no TCP), is initialised once, and is
// stopped when its owner stops or dies.
//
// Layout below the cluster root:
//
//	data/          PGDATA (owned by the postgres user when running as root)
//	sock/          the unix socket directory, 0700
//	postgres.log   the server's log
//	owner.pid      pid of the process that started the server
//	portal.lock    serialises starts of processes sharing the root
//
// A second process using the same root while the first runs attaches to the
// running server instead of starting another. A server whose owner died is a
// leftover: the next Start stops it and starts a fresh one it owns.
package pgembed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role initdb creates; clients connect as it over the
// private socket with trust authentication.
const Superuser = "portal"

// Options configure Start.
type Options struct {
	// Dir is the cluster root. When running as root and the postgres user
	// cannot reach Dir, the cluster is placed under the system's temporary
	// directory instead (see Cluster.Root), and the log says so.
	Dir string
	// BinDir holds initdb and postgres; empty means search (pg_config
	// --bindir, then /usr/lib/postgresql/*/bin, newest first).
	BinDir string
	// Settings are extra server settings (postgres -c name=value), e.g.
	// fsync=off for tests.
	Settings map[string]string
	// Logger receives what the package does; nil discards.
	Logger *slog.Logger
	// Existing makes Start fail with ErrNoCluster instead of initialising
	// a cluster where there is none, creating nothing: for commands that
	// only read an existing one (backup).
	Existing bool
}

// ErrNoCluster is returned by Start with Options.Existing when there is no
// initialised cluster under the root.
var ErrNoCluster = errors.New("pgembed: no embedded PostgreSQL cluster has been initialised there")

// Cluster is a running (or attached) embedded PostgreSQL server.
type Cluster struct {
	root, data, sock, bin string
	log                   *slog.Logger

	owner  bool // this process started the server and stops it
	cmd    *exec.Cmd
	exited chan struct{} // closed when the owned server process exited
}

// Start starts the cluster under opts.Dir, initialising it on first use, or
// attaches to the server another live process started there. ctx bounds the
// start only, not the server's life: call Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := FindBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	if opts.Existing {
		// Without the directory above it there is no cluster, neither
		// there nor in the place used when it is unreachable.
		if _, err := os.Stat(filepath.Dir(root)); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s)", ErrNoCluster, root)
		}
	}
	if acct != nil {
		if err := os.MkdirAll(filepath.Dir(root), 0o711); err != nil {
			return nil, fmt.Errorf("pgembed: %w", err)
		}
		if blocker := unreachable(filepath.Dir(root), acct); blocker != "" {
			alt := privateRoot(root)
			log.Info("embedded PostgreSQL placed outside the data directory: the postgres user cannot enter "+blocker,
				"wanted", root, "using", alt)
			root = alt
		}
	}
	c := &Cluster{
		root: root,
		data: filepath.Join(root, "data"),
		sock: socketDir(root),
		bin:  bin,
		log:  log,
	}
	if opts.Existing {
		if _, err := os.Stat(filepath.Join(c.data, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s)", ErrNoCluster, c.data)
		}
	}
	if err := os.MkdirAll(filepath.Dir(c.root), 0o711); err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	// The root stays this process's own (the server only passes through
	// it): the files root writes there (owner.pid, portal.lock, the log)
	// must not be where the server's account could plant a symlink.
	rootMode := fs.FileMode(0o700)
	if acct != nil {
		rootMode = 0o711
	}
	if err := privateDir(c.root, acct, rootMode, false); err != nil {
		return nil, err
	}
	if err := privateDir(c.sock, acct, 0o700, true); err != nil {
		return nil, err
	}

	unlock, err := lockFile(filepath.Join(c.root, "portal.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	if attached, err := c.attachOrClear(ctx); err != nil || attached {
		return c, err
	}
	if err := c.initOnce(ctx, acct); err != nil {
		return nil, err
	}
	if err := c.start(ctx, acct, opts.Settings); err != nil {
		return nil, err
	}
	return c, nil
}

// Root is the cluster root actually used.
func (c *Cluster) Root() string { return c.root }

// Owner reports whether this process started the server (and Stop stops it).
func (c *Cluster) Owner() bool { return c.owner }

// DSN returns a connection string for database db over the private socket.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("host=%s port=5432 user=%s dbname=%s sslmode=disable", quoteDSN(c.sock), Superuser, quoteDSN(db))
}

// EnsureDatabase creates database name unless it exists.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgembed: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("pgembed: look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) && pgErr.SQLState() == "42P04" { // created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgembed: create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts an owned server down (fast shutdown: open sessions are ended,
// data is flushed) and waits for it; it does nothing for an attached one.
func (c *Cluster) Stop() error {
	if !c.owner || c.cmd == nil {
		return nil
	}
	if pid, _ := readPID(filepath.Join(c.root, "owner.pid")); pid == os.Getpid() {
		os.Remove(filepath.Join(c.root, "owner.pid"))
	}
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 15 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}} {
		_ = c.cmd.Process.Signal(step.sig)
		select {
		case <-c.exited:
			c.log.Info("embedded PostgreSQL stopped")
			return nil
		case <-time.After(step.wait):
		}
	}
	return errors.New("pgembed: postgres did not stop")
}

// attachOrClear looks at the server recorded in postmaster.pid. When it runs
// and its owner is alive, c attaches to it. When it runs but its owner died
// (the owner was killed), it is stopped so a fresh, owned one can start.
func (c *Cluster) attachOrClear(ctx context.Context) (attached bool, err error) {
	pidFile := filepath.Join(c.data, "postmaster.pid")
	pid, sock, ok := readPostmasterPID(pidFile)
	if !ok {
		return false, nil
	}
	if !running(pid) || processName(pid) != "postgres" || !servesDir(pid, c.data) {
		// A stale pid file: after a reboot its pid may belong to any
		// process, even another cluster's server, which must not be
		// signalled; and postgres would refuse to start beside a live pid.
		c.log.Info("removing a stale postmaster.pid", "pid", pid)
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("pgembed: %w", err)
		}
		return false, nil
	}
	owner, _ := readPID(filepath.Join(c.root, "owner.pid"))
	if owner > 0 && running(owner) && parentPID(pid) == owner {
		if sock != "" {
			c.sock = sock
		}
		if err := c.waitReady(ctx, nil); err != nil {
			return false, err
		}
		c.log.Info("attached to the running embedded PostgreSQL", "owner_pid", owner)
		return true, nil
	}
	c.log.Warn("stopping a leftover embedded PostgreSQL whose owner is gone", "pid", pid)
	if err := stopPID(pid); err != nil {
		return false, err
	}
	return false, nil
}

func (c *Cluster) initOnce(ctx context.Context, acct *account) error {
	version, err := serverMajorVersion(c.bin)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(c.data, "PG_VERSION")); err == nil {
		if have := strings.TrimSpace(string(b)); have != version {
			return fmt.Errorf("pgembed: the cluster in %s was made by PostgreSQL %s, but the binaries in %s are version %s; "+
				"set PG_BIN to PostgreSQL %s's binaries or move %s away", c.data, have, c.bin, version, have, c.data)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgembed: %w", err)
	}
	// initdb writes into data.tmp, renamed to data only when complete: an
	// initdb cut off (Ctrl-C, a crash) leaves no half cluster that a later
	// start would take for a whole one.
	tmp := c.data + ".tmp"
	for _, d := range []string{c.data, tmp} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
	}
	if err := privateDir(tmp, acct, 0o700, true); err != nil {
		return err
	}
	started := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "initdb"),
		"-D", tmp, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions")
	c.prepare(cmd, acct)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgembed: initdb: %w\n%s", err, out)
	}
	if err := os.Rename(tmp, c.data); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	c.log.Info("embedded PostgreSQL initialised", "dir", c.data, "version", version, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

func (c *Cluster) start(ctx context.Context, acct *account, settings map[string]string) error {
	args := []string{"-D", c.data, "-p", "5432", "-k", c.sock,
		"-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logf, err := os.OpenFile(filepath.Join(c.root, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	defer logf.Close() // the child keeps its own copy

	cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
	c.prepare(cmd, acct)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C in the terminal reaches the portal, which
	// then stops the server after its last request, not both at once.
	cmd.SysProcAttr.Setpgid = true
	// If this process dies without stopping the server (SIGKILL), the kernel
	// tells the server to shut down. The signal follows the thread that
	// started the child, so that thread stays locked until the child exits.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT

	c.exited = make(chan struct{})
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		_ = cmd.Wait()
		close(c.exited)
	}()
	if err := <-startErr; err != nil {
		return fmt.Errorf("pgembed: start postgres: %w", err)
	}
	c.cmd, c.owner = cmd, true
	if err := writePID(filepath.Join(c.root, "owner.pid"), os.Getpid()); err != nil {
		_ = c.Stop()
		return err
	}
	started := time.Now()
	if err := c.waitReady(ctx, c.exited); err != nil {
		_ = c.Stop()
		return fmt.Errorf("%w\n%s", err, tail(filepath.Join(c.root, "postgres.log"), 20))
	}
	c.log.Info("embedded PostgreSQL started", "pid", cmd.Process.Pid, "socket_dir", c.sock, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// waitReady polls until the server accepts connections, the server process
// exits (exited closes), or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			return errors.New("pgembed: postgres exited during start; its log ends with:")
		case <-ctx.Done():
			return fmt.Errorf("pgembed: postgres did not become ready: %w", err)
		case <-time.After(15 * time.Millisecond):
		}
	}
}

// prepare sets what every child process gets: a known locale, its working
// directory inside the cluster (initdb must be able to read its cwd) and,
// when running as root, the postgres account's identity.
func (c *Cluster) prepare(cmd *exec.Cmd, acct *account) {
	cmd.Dir = c.root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C.UTF-8", "LANG=C.UTF-8", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if acct != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid}
		cmd.Env = append(cmd.Env, "HOME="+c.root, "USER="+acct.name)
	}
}

// FindBinDir returns the directory holding initdb and postgres: explicit if
// given, else pg_config's --bindir, else the newest /usr/lib/postgresql/*/bin.
// The error names the package to install.
func FindBinDir(explicit string) (string, error) {
	return firstBinDir(explicit, candidateDirs(explicit))
}

// FindTools returns the first directory of FindBinDir's search that holds
// every program in names (pg_dump, pg_restore): the server's own directory
// where the server is installed, a client package's otherwise. The error
// names what is missing and the package to install.
func FindTools(explicit string, names ...string) (string, error) {
	for _, dir := range candidateDirs(explicit) {
		all := true
		for _, n := range names {
			all = all && isExecutable(filepath.Join(dir, n))
		}
		if all {
			return dir, nil
		}
	}
	if explicit != "" {
		return "", fmt.Errorf("pgembed: PG_BIN=%s holds no %s", explicit, strings.Join(names, " and "))
	}
	return "", fmt.Errorf("pgembed: the PostgreSQL programs %s are not installed; "+
		"install the package: apt-get install postgresql-client (Debian/Ubuntu), or set PG_BIN to their directory",
		strings.Join(names, ", "))
}

// candidateDirs lists where PostgreSQL's programs may be, best first.
func candidateDirs(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	candidates = append(candidates, dirs...)
	return append(candidates, "/usr/local/pgsql/bin")
}

// firstBinDir returns the first candidate holding initdb and postgres, or
// the error that tells a person what to install.
func firstBinDir(explicit string, candidates []string) (string, error) {
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	if explicit != "" {
		return "", fmt.Errorf("pgembed: PG_BIN=%s holds no initdb and postgres", explicit)
	}
	return "", errors.New("pgembed: the PostgreSQL server binaries (initdb, postgres) are not installed; " +
		"install the package: apt-get install postgresql (Debian/Ubuntu), " +
		"or set PG_BIN to their directory, or set DATABASE_URL to use an existing server")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func serverMajorVersion(bin string) (string, error) {
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("pgembed: postgres --version: %w", err)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return "", fmt.Errorf("pgembed: cannot read the version in %q", out)
	}
	major, _, _ := strings.Cut(fields[2], ".")
	return major, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// account is the system user the server runs as when this process is root
// (initdb and postgres refuse to run as root). A nil *account means: run as
// ourselves.
type account struct {
	name     string
	uid, gid uint32
	groups   map[uint32]bool
}

func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("pgembed: running as root needs the postgres system user to run the server; " +
			"install the package: apt-get install postgresql")
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	acct := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: map[uint32]bool{uint32(gid): true}}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				acct.groups[uint32(n)] = true
			}
		}
	}
	return acct, nil
}

// privateDir makes dir a directory only its owner can enter (with mode):
// created if missing, else checked. An existing one must be a real
// directory (no symlink) owned by this process's user or the server's
// account: the fallback places live under the shared temporary directory,
// where another user could have made the name first. forServer gives it to
// the server's account; otherwise it belongs to this process's user.
func privateDir(dir string, acct *account, mode fs.FileMode, forServer bool) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgembed: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	owned := ok && (int(st.Uid) == os.Geteuid() || (acct != nil && st.Uid == acct.uid))
	if !fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0 || !owned {
		return fmt.Errorf("pgembed: %s exists but is not a directory of this user or of the postgres user; remove it", dir)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if forServer {
		return acct.chown(dir)
	}
	if acct != nil && int(st.Uid) != os.Geteuid() {
		if err := os.Chown(dir, os.Geteuid(), os.Getegid()); err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
	}
	return nil
}

func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Chown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	return nil
}

// unreachable returns the first directory from dir up to / that acct may
// not traverse, or "".
func unreachable(dir string, acct *account) string {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return d
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return d
		}
		perm := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == acct.uid:
			can = perm&0o100 != 0
		case acct.groups[st.Gid]:
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// privateRoot is where a cluster goes whose wanted root the postgres user
// cannot reach: a stable name per wanted root, so a restart finds it again.
func privateRoot(wanted string) string {
	return filepath.Join(os.TempDir(), "portal-pg-"+shortHash(wanted))
}

// socketDir keeps the socket path within the kernel's 107-byte limit.
func socketDir(root string) string {
	dir := filepath.Join(root, "sock")
	if len(dir)+len("/.s.PGSQL.5432") < 100 {
		return dir
	}
	return filepath.Join(os.TempDir(), "portal-sock-"+shortHash(root))
}

func quoteDSN(s string) string {
	if s != "" && !strings.ContainsAny(s, ` '\`) {
		return s
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
