package smtp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
)

// slowHandReceipt is a noRecopyReceipt whose hand-over of the discards
// owed takes took on the server's clock (a watch session's fetch
// waited for, a push: up to 2 s).
type slowHandReceipt struct {
	noRecopyReceipt
	clk  *clock.Fake
	took time.Duration
}

func (r *slowHandReceipt) HandLeftDiscards(ctx context.Context, id queue.ID, orgID string, servers []string) {
	r.noRecopyReceipt.HandLeftDiscards(ctx, id, orgID, servers)
	r.clk.Advance(r.took)
}

// timedResults records the time each copy on receipt added to its
// reply (ReceiptObserver).
type timedResults struct {
	nopObserver
	mu    sync.Mutex
	added []time.Duration
}

func (o *timedResults) ShadowOnReceipt(_, _ string, added time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.added = append(o.added, added)
}

// SR-17 (rdleft45): umbra_shadow_receipt_seconds is the time the copy
// added to the reply. A message that left this server before its copy
// on receipt was confirmed has the discards owed to the servers that
// may hold the copy handed before its 250 (HandLeftDiscards, up to 2 s):
// that wait is the copy's too, and the sender's. It was observed before
// the hand-over, so the metric left it out.
func TestSR17LeftMayHoldReceiptTimeCountsTheHandOver(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC))
	r := &slowHandReceipt{noRecopyReceipt: noRecopyReceipt{brokenReceipt: brokenReceipt{err: fmt.Errorf("reply to the end of the message: %w", io.EOF)}},
		clk: clk, took: 2 * time.Second}
	conns := transportConnectorAt(t, freeAddrIn(t, "127.0.0.196", 18300, 18400))
	conns[0].ShadowOnReceipt = config.ShadowOnReceiptPreferRemote
	obs := &timedResults{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Routing: testTable(), Queue: &leftQueue{}, Shadow: &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}},
		ShadowEnabled: true, Clock: clk, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReceiptShadow(r)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	if got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250"); !strings.Contains(got, "left this server before its shadow copy was confirmed") {
		t.Fatalf("reply %q: not the left-may-hold case, the test proves nothing", got)
	}
	d.cmd("QUIT", "221")
	r.mu.Lock()
	handed := len(r.handed)
	r.mu.Unlock()
	if handed != 1 {
		t.Fatalf("%d hand-overs: the test proves nothing", handed)
	}
	obs.mu.Lock()
	added := append([]time.Duration(nil), obs.added...)
	obs.mu.Unlock()
	if len(added) != 1 || added[0] < r.took {
		t.Errorf("time the copy added to the reply observed as %v; want at least the hand-over's %v, which the sender waited for too", added, r.took)
	}
}
