package fault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// pgError stands for a driver's server error: what fault recognises is
// the SQLState method, not the driver's type. (store's tests meet the
// real ones.)
type pgError string

func (e pgError) Error() string    { return "ERROR (SQLSTATE " + string(e) + ")" }
func (e pgError) SQLState() string { return string(e) }

func TestKindOfUnreachableDependencies(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tests := []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"connection exception", pgError("08006"), fault.Unavailable},
		{"admin shutdown", pgError("57P01"), fault.Unavailable},
		{"crash shutdown", pgError("57P02"), fault.Unavailable},
		{"cannot connect now", pgError("57P03"), fault.Unavailable},
		{"disk full", fmt.Errorf("store: insert: %w", pgError("53100")), fault.Unavailable},
		{"too many connections", pgError("53300"), fault.Unavailable},
		{"read-only after a failover", pgError("25006"), fault.Unavailable},
		{"refused connect", fmt.Errorf("failed to connect: %w", dial), fault.Unavailable},
		{"dropped connection", io.ErrUnexpectedEOF, fault.Unavailable},
		{"waited out", fmt.Errorf("acquire: %w", context.DeadlineExceeded), fault.Unavailable},
		{"wrapped as internal", fault.Wrap(fault.Internal, "x", pgError("57P01")), fault.Unavailable},
		{"unique violation", pgError("23505"), fault.Internal},
		{"syntax error", pgError("42601"), fault.Internal},
		{"cancelled by the caller", context.Canceled, fault.Internal},
		{"plain error", errors.New("boom"), fault.Internal},
		{"nil", nil, fault.Internal},
		// What a package classified stays so: a truncated upload is the
		// sender's fault, even though its cause is an unexpected EOF.
		{"classified invalid", fault.Wrap(fault.Invalid, "portal: multipart form", io.ErrUnexpectedEOF), fault.Invalid},
		{"classified not found", fault.Wrap(fault.NotFound, "x", dial), fault.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fault.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
