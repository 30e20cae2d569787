package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// outbound is the outermost interceptor of what a connection sends, one
// per connection (registered last). It does two things to every packet
// before the others see it:
//
//   - it drops the packets of streams whose video is paused (Peer.stopVideo):
//     the sender keeps its track, so every offer still describes the
//     stream (its SSRC and msid) and the browser keeps the track, which
//     simply gets no frames until the pause ends. Dropped packets get no
//     TWCC sequence number and no place in the NACK history;
//   - it hands every packet written without attributes (pion passes none)
//     a map from a pool: the bandwidth estimator marks each packet with
//     the TWCC extension's id, and would otherwise make a map per packet
//     forwarded, a fifth of all the SFU allocates. Nothing in the chain
//     keeps a packet's attributes after its Write returns (the NACK
//     responder copies header and payload), so the map goes back to the
//     pool, emptied, at once.
type outbound struct {
	interceptor.NoOp
	pool *sync.Pool

	mu      sync.Mutex
	paused  map[uint32]bool // by SSRC
	npaused atomic.Int32    // len(paused), read without mu on every packet
}

// outboundFactory makes the outbound interceptor of every connection; they
// share one pool. created, when set, is called with each new one.
type outboundFactory struct {
	pool    sync.Pool
	created func(*outbound)
}

func newOutboundFactory() *outboundFactory {
	f := &outboundFactory{}
	f.pool.New = func() any { return make(interceptor.Attributes, 2) }
	return f
}

// NewInterceptor implements interceptor.Factory.
func (f *outboundFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	o := &outbound{pool: &f.pool, paused: map[uint32]bool{}}
	if f.created != nil {
		f.created(o)
	}
	return o, nil
}

// pause stops (or, with false, resumes) sending the stream of ssrc.
func (o *outbound) pause(ssrc uint32, paused bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if paused {
		o.paused[ssrc] = true
	} else {
		delete(o.paused, ssrc)
	}
	o.npaused.Store(int32(len(o.paused)))
}

// isPaused reports whether the stream of ssrc is paused.
func (o *outbound) isPaused(ssrc uint32) bool {
	if o.npaused.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.paused[ssrc]
}

// BindLocalStream implements interceptor.Interceptor.
func (o *outbound) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if o.isPaused(h.SSRC) {
			return h.MarshalSize() + len(payload), nil
		}
		if a != nil {
			return w.Write(h, payload, a)
		}
		m := o.pool.Get().(interceptor.Attributes)
		n, err := w.Write(h, payload, m)
		clear(m)
		o.pool.Put(m)
		return n, err
	})
}
