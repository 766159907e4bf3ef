package delivery

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/smtp"
)

// forgettingPrimary is a primary's shadow verbs over a list of discard
// notifications: it forgets the ids of a reply when the shadow server
// proves it has them (the ack: its next command arrived), and records
// which ids it forgot, so that a test can see whether the shadow server
// spoke again before it saved them.
type forgettingPrimary struct {
	primaryQueue
	mu     sync.Mutex
	ids    []string
	forgot map[string]bool
	sig    chan struct{} // never closed: WAIT= ends by its time
}

func newForgettingPrimary(n int) *forgettingPrimary {
	p := &forgettingPrimary{forgot: map[string]bool{}, sig: make(chan struct{})}
	for i := 0; i < n; i++ {
		p.ids = append(p.ids, fmt.Sprintf("%016X-d%d", i+1, i))
	}
	return p
}

func (p *forgettingPrimary) Discards(server string, max int) ([]string, func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := append([]string(nil), p.ids[:min(max, len(p.ids))]...)
	return ids, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, id := range ids {
			p.forgot[id] = true
		}
		keep := p.ids[:0]
		for _, id := range p.ids {
			if !p.forgot[id] {
				keep = append(keep, id)
			}
		}
		p.ids = keep
	}
}

func (p *forgettingPrimary) DiscardSignal(string) <-chan struct{} { return p.sig }

// forgotAny reports whether the primary forgot one of ids within d: the
// shadow server spoke again while it was still saving them.
func (p *forgettingPrimary) forgotAny(ids []string, d time.Duration) bool {
	for end := time.Now().Add(d); ; {
		p.mu.Lock()
		for _, id := range ids {
			if p.forgot[id] {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *forgettingPrimary) allForgotten(d time.Duration) bool {
	for end := time.Now().Add(d); ; {
		p.mu.Lock()
		n := len(p.ids)
		p.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startForgettingPrimary runs a primary whose transport connector trusts
// the shadow server's address (externally secured, no topology).
func startForgettingPrimary(t *testing.T, p *forgettingPrimary) string {
	t.Helper()
	return startTransportServer(t, "hub.test", "hub.test", "primary.yaml", primaryQueue{}, p)
}

// saveWindow is how long a save below lets the primary show that it
// forgot the notifications being saved (the shadow server spoke again
// meanwhile); a shadow server that waits for its save never does.
const saveWindow = 500 * time.Millisecond

// F1: a shadow server killed (kill -9) after it read a discard
// notification and before it committed the drop must find the
// notification at the primary again. So it must not send its next
// command — the primary's proof that it has them — before that commit:
// not the next WAIT= of a watch session, not the next batch of a
// heartbeat or of the query of a delivery session, not QUIT.
func TestDiscardsSavedBeforeNextCommand(t *testing.T) {
	t.Run("watch", func(t *testing.T) {
		p := newForgettingPrimary(1)
		addr := startForgettingPrimary(t, p)
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
		d.st.Load().cfg.ShadowServerID = "edge1"
		var mu sync.Mutex
		saved, early := false, false
		found := func(db string, _ uint64, ids []string, contact bool) error {
			if len(ids) == 0 {
				return nil
			}
			e := p.forgotAny(ids, saveWindow)
			mu.Lock()
			saved, early = true, early || e
			mu.Unlock()
			return nil
		}
		more := func() bool {
			mu.Lock()
			defer mu.Unlock()
			return !saved
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.Watch(ctx, "hub.test", addr, found, more); err != nil {
			t.Fatal(err)
		}
		if early {
			t.Fatal("the primary forgot a discard notification before the shadow server saved it")
		}
		if !p.allForgotten(5 * time.Second) {
			t.Fatal("the primary never forgot the notification the shadow server saved")
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		p := newForgettingPrimary(1)
		addr := startForgettingPrimary(t, p)
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
		d.st.Load().cfg.ShadowServerID = "edge1"
		early := false
		var got []string
		err := d.Heartbeat(context.Background(), "hub.test", addr, func(db string, _ uint64, ids []string, contact bool) error {
			if len(ids) > 0 {
				early = early || p.forgotAny(ids, saveWindow)
				got = append(got, ids...)
			}
			return nil
		})
		if err != nil || len(got) != 1 {
			t.Fatalf("heartbeat: %v %v", got, err)
		}
		if early {
			t.Fatal("the primary forgot a discard notification before the shadow server saved it")
		}
		if !p.allForgotten(5 * time.Second) {
			t.Fatal("the primary never forgot the notification the shadow server saved")
		}
	})
	t.Run("session query in batches", func(t *testing.T) {
		p := newForgettingPrimary(1500) // two batches of XQUERYDISCARD 1000
		addr := startForgettingPrimary(t, p)
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
		rec := &savingRecorder{p: p}
		d.st.Load().cfg.Shadows = rec
		c, err := smtp.NewClient(context.Background(), dialT(t, addr), smtp.ClientOptions{LocalName: "edge1.test", TLS: smtp.TLSNone})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Shadow("edge1"); err != nil {
			t.Fatal(err)
		}
		d.queryDiscards(d.st.Load(), c, "hub.test")
		c.Quit()
		if rec.early {
			t.Fatal("the primary forgot a batch of discard notifications before the shadow server saved it")
		}
		if rec.n != 1500 || !p.allForgotten(5*time.Second) {
			t.Fatalf("saved %d of 1500 notifications; primary still holds some: %v", rec.n, !p.allForgotten(0))
		}
	})
}

// savingRecorder is a delivery.Shadows that, as it saves a batch, looks
// whether the primary forgot it already.
type savingRecorder struct {
	p     *forgettingPrimary
	early bool
	n     int
}

func (r *savingRecorder) save(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	// Only the last batch may still be unacknowledged; the others were
	// read before the next query.
	r.early = r.early || r.p.forgotAny(ids, saveWindow)
	r.n += len(ids)
	return nil
}

func (r *savingRecorder) Contact(primary, dbID string, _ uint64, discards []string) error {
	return r.save(discards)
}

func (r *savingRecorder) Presented(primary, dbID string, _ uint64, discards []string) error {
	return r.save(discards)
}

// heartbeatIDs runs a heartbeat and returns the database id and the
// notifications it saved.
func heartbeatIDs(d *Deliverer, ctx context.Context, primary, addr string) (string, []string, error) {
	var db string
	var all []string
	err := d.Heartbeat(ctx, primary, addr, func(dbID string, _ uint64, ids []string, contact bool) error {
		db = dbID
		all = append(all, ids...)
		return nil
	})
	return db, all, err
}

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}
