package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/smtp"
)

// waitCountingPrimary counts the long polls a primary is asked for
// (DiscardSignal: an XQUERYDISCARD WAIT= that found nothing owed at once
// or looked first).
type waitCountingPrimary struct {
	*forgettingPrimary
	wmu   sync.Mutex
	waits int
}

func (p *waitCountingPrimary) DiscardSignal(s string) <-chan struct{} {
	p.wmu.Lock()
	p.waits++
	p.wmu.Unlock()
	return p.forgettingPrimary.DiscardSignal(s)
}

// SR-17 with a primary below shadow verbs version 14: a watch session
// for copies on receipt only (more reports lazy) never sends it the lazy
// query (it would answer 501 5.5.4, and the session fail); it long-polls
// XQUERYDISCARD WAIT= as before, and every discard is saved.
func TestLazyWatchLongPollsOlderPrimary(t *testing.T) {
	p := &waitCountingPrimary{forgettingPrimary: newForgettingPrimary(3)}
	cfg, err := config.Parse([]byte(`server: {name: hub.test}
receive_connectors:
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay, accept-xshadow]}
`), "primary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "hub.test", Connectors: cfg.ReceiveConnectors,
		Queue: primaryQueue{}, Shadow: p, ShadowEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	d.st.Load().cfg.ShadowServerID = "edge1"
	var mu sync.Mutex
	var saved []string
	turns := 0
	more := func() (bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		turns++
		return turns == 1, true // one lazy turn, then the session's end
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = d.Watch(ctx, "hub.test", srv.Addrs()[0].String(), func(db string, ids []string, contact bool) error {
		mu.Lock()
		saved = append(saved, ids...)
		mu.Unlock()
		return nil
	}, more)
	if err != nil {
		t.Fatalf("watch of a version-2 primary for copies on receipt: %v", err)
	}
	p.wmu.Lock()
	waits := p.waits
	p.wmu.Unlock()
	if waits == 0 {
		t.Fatal("no XQUERYDISCARD WAIT= sent to a primary below version 14")
	}
	if len(saved) != 3 {
		t.Fatalf("saved %q, want the three discards", saved)
	}
}
