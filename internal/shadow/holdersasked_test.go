package shadow

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// hangCopier hangs the probes of the servers in hang until their
// context ends, while hanging is set; the others answer at once.
type hangCopier struct {
	mu      sync.Mutex
	hang    map[string]bool
	hanging bool
	probed  []string
}

func (c *hangCopier) Probe(ctx context.Context, server string) (string, error) {
	c.mu.Lock()
	c.probed = append(c.probed, server)
	hang := c.hanging && c.hang[server]
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return "db", nil
}

func (c *hangCopier) Recopy(context.Context, uint64) (string, error) { return "", nil }

func (c *hangCopier) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.probed
	c.probed = nil
	sort.Strings(out)
	return out
}

// Only the start's ask is the next pass's probe: the same round after
// a stall (Ask) leaves nothing, so the pass a heartbeat timeout later
// probes every holder (a holder's rollback or dropped copies found in
// time); and a start's ask older than askedFresh is not taken for the
// next pass's either (rr21b F3).
func TestHoldersPassAfterStallAskProbesEveryone(t *testing.T) {
	st := &fakeHolderStore{holders: map[string]int{"hub-b": 1, "hub-c": 1}}
	cp := &hangCopier{}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Clock: clk})
	h.Pass(context.Background()) // the overdue pass that runs at once on resume
	h.Ask(context.Background())  // the stall guard's round
	cp.take()
	clk.Advance(5 * time.Minute)
	h.Pass(context.Background())
	if got := strings.Join(cp.take(), ","); got != "hub-b,hub-c" {
		t.Fatalf("the pass after a stall's round probed %q, want every holder", got)
	}

	h.AskFirst(context.Background())
	cp.take()
	clk.Advance(askedFresh + time.Second)
	h.Pass(context.Background())
	if got := strings.Join(cp.take(), ","); got != "hub-b,hub-c" {
		t.Fatalf("a pass %v after the start's ask probed %q, want every holder", askedFresh+time.Second, got)
	}
}

// A holder the start's ask never reached — not started before its
// bound ended (six holders, four hanging: the two after them were never
// dialled), or probed and cut — is not asked: the first pass probes it.
func TestHoldersAskFirstUnreachedProbedByFirstPass(t *testing.T) {
	st := &fakeHolderStore{holders: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}}
	cp := &hangCopier{hanging: true, hang: map[string]bool{"a": true, "b": true, "c": true, "d": true}}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	h.AskFirst(ctx)
	cancel()
	if got := cp.take(); slices.Contains(got, "e") || slices.Contains(got, "f") {
		t.Fatalf("the start's ask probed %v: the test wants e and f left unstarted", got)
	}
	cp.mu.Lock()
	cp.hanging = false
	cp.mu.Unlock()
	h.Pass(context.Background())
	if got := strings.Join(cp.take(), ","); got != "a,b,c,d,e,f" {
		t.Fatalf("the first pass probed %q, want every holder the start's ask did not finish with", got)
	}
}
