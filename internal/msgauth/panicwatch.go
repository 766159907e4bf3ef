package msgauth

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"umbra/internal/resolver"
)

// panicWatch is the resolver one message's methods ask: it notes a
// lookup the resolver answered with its recovered panic
// (resolver.ErrPanicked: umbra's defect, counted and logged at ERROR
// there), so that the method's temperror is counted "panicked", not DNS
// failing (results.crashed; TestMessageAuthenticationResolverPanicCountedPanicked).
type panicWatch struct {
	resolver.Resolver
	saw atomic.Bool // since the last took
}

func (w *panicWatch) note(err error) error {
	if err != nil && errors.Is(err, resolver.ErrPanicked) {
		w.saw.Store(true)
	}
	return err
}

// took reports whether a lookup panicked since its last call.
func (w *panicWatch) took() bool { return w.saw.Swap(false) }

func (w *panicWatch) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := w.Resolver.LookupMX(ctx, name)
	return v, w.note(err)
}

func (w *panicWatch) LookupHost(ctx context.Context, host string) ([]string, error) {
	v, err := w.Resolver.LookupHost(ctx, host)
	return v, w.note(err)
}

func (w *panicWatch) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := w.Resolver.LookupIPAddr(ctx, host)
	return v, w.note(err)
}

func (w *panicWatch) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := w.Resolver.LookupTXT(ctx, name)
	return v, w.note(err)
}

func (w *panicWatch) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := w.Resolver.LookupAddr(ctx, addr)
	return v, w.note(err)
}

func (w *panicWatch) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	v, err := w.Resolver.Lookup(ctx, name, qtype)
	return v, w.note(err)
}
