// Package fault gives domain errors a kind and, where a person must read
// them, a message id from locales/. The HTTP layer maps kinds to statuses in
// exactly one place (portal's error handler); nothing else inspects them.
package fault

import "errors"

// Kind classifies an error by what the caller can do about it.
type Kind int

// The kinds, from the caller's point of view. Internal is the zero value so
// that an unclassified error never leaks details by accident.
const (
	Internal    Kind = iota // a bug or an unexpected failure: log in full, show a generic page
	NotFound                // the object does not exist, or the caller may not know it exists
	Invalid                 // the input is wrong; the message id says how
	Conflict                // the object changed or exists already
	Forbidden               // the caller is known but not allowed
	Unavailable             // a dependency (database, SMTP) is down; retrying later may help
	TooMany                 // the caller tried too often; waiting helps
	Gone                    // the object existed and was deleted for good (its retention period ended)
)

func (k Kind) String() string {
	switch k {
	case NotFound:
		return "not_found"
	case Invalid:
		return "invalid"
	case Conflict:
		return "conflict"
	case Forbidden:
		return "forbidden"
	case Unavailable:
		return "unavailable"
	case TooMany:
		return "too_many"
	case Gone:
		return "gone"
	default:
		return "internal"
	}
}

// Error is a classified error. Op names the operation for logs
// ("store: get office"), MessageID the text shown to a person, if any.
type Error struct {
	Kind      Kind
	Op        string
	MessageID string
	Err       error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Op != "":
		return e.Op + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	case e.MessageID != "":
		return e.Op + ": " + e.Kind.String() + " (" + e.MessageID + ")"
	default:
		return e.Op + ": " + e.Kind.String()
	}
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k for operation op, shown to people as the
// message msgID (may be empty).
func New(k Kind, op, msgID string) error {
	return &Error{Kind: k, Op: op, MessageID: msgID}
}

// Wrap classifies err. It returns nil when err is nil.
func Wrap(k Kind, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Op: op, Err: err}
}

// KindOf returns the kind of the outermost classified error in err's chain.
// An error classified as nothing else (no kind, or Internal) whose cause
// says a dependency is unreachable (a dropped or refused database
// connection, a full disk; see unreachable) is Unavailable, wherever it
// arose: store queries, transactions, the job queue. Otherwise Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return e.Kind
	}
	if err != nil && unreachable(err) {
		return Unavailable
	}
	return Internal
}

// MessageOf returns the message id of the outermost classified error in
// err's chain that has one, or "".
func MessageOf(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.MessageID != "" {
			return e.MessageID
		}
		err = e.Err
	}
	return ""
}
