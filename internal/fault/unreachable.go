package fault

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
)

// unreachable reports whether err says that a dependency (PostgreSQL, a
// relay) could not be reached or could not do the work now, as opposed to
// refusing the work itself. The drivers' errors are recognised by the
// methods and standard errors they carry, so this package imports none:
//
//   - a PostgreSQL error (an error with SQLState() string, as pgconn's
//     PgError) of class 08 (connection exception), 57P01–57P03 (the server
//     shuts down, crashed, or cannot accept connections yet), class 53
//     (insufficient resources: disk full, out of memory, too many
//     connections) or 25006 (a read-only server, as after a failover);
//   - a network error (net.Error): a refused or reset connection, a DNS
//     failure, a timeout; pgconn's failed connects carry one;
//   - an error that happened before the request reached the server (an
//     error whose SafeToRetry() is true, as pgconn's "conn closed");
//   - io.ErrUnexpectedEOF, which pgx returns when the server's side of a
//     connection closed mid-conversation;
//   - context.DeadlineExceeded: a connect or a wait for a pooled
//     connection ran out of time.
func unreachable(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		code := pg.SQLState()
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"),
			code == "57P01", code == "57P02", code == "57P03", code == "25006":
			return true
		}
		// Any other answer of the server: it is reachable, and refused
		// the statement for its own reasons.
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var retry interface{ SafeToRetry() bool }
	if errors.As(err, &retry) && retry.SafeToRetry() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
