package sfu

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// pooledAttributes hands every packet the server writes without
// attributes (pion passes none) a map from a pool: the bandwidth
// estimator marks each packet it sees with the TWCC extension's id, and
// would otherwise make a map for every packet forwarded, a fifth of all
// the SFU allocates. Nothing in the chain keeps a packet's attributes
// after its Write returns (the NACK responder copies header and payload),
// so the map goes back to the pool, emptied, at once. It must be the
// outermost interceptor, registered last.
type pooledAttributes struct {
	interceptor.NoOp
	pool *sync.Pool
}

// attributesFactory makes the pooledAttributes of every connection; they
// share one pool.
type attributesFactory struct{ pool sync.Pool }

func newAttributesFactory() *attributesFactory {
	f := &attributesFactory{}
	f.pool.New = func() any { return make(interceptor.Attributes, 2) }
	return f
}

// NewInterceptor implements interceptor.Factory.
func (f *attributesFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &pooledAttributes{pool: &f.pool}, nil
}

// BindLocalStream implements interceptor.Interceptor.
func (p *pooledAttributes) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if a != nil {
			return w.Write(h, payload, a)
		}
		m := p.pool.Get().(interceptor.Attributes)
		n, err := w.Write(h, payload, m)
		clear(m)
		p.pool.Put(m)
		return n, err
	})
}
