// Package request carries what belongs to one request through a
// context.Context, so code below the HTTP layer can name the request in
// its log lines. The HTTP layer sets it once per request; nothing else
// does.
package request

import "context"

type idKey struct{}

// WithID returns ctx carrying the request id id.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

// ID returns the request id ctx carries, or "" outside a request (a job,
// a command, a test).
func ID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}
