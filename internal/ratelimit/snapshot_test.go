package ratelimit

import (
	"bytes"
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/smtp"
)

// A restart restores the counts: a snapshot taken mid-window and
// restored into new counters refuses what the old ones would have, and
// counters idle for two windows are not saved.
func TestSnapshotRestore(t *testing.T) {
	clk := clock.NewFake(t0)
	c := NewCounters(clk, nil)
	k, _ := New(connector(t, "    rate_limits: {address: {messages: 2}}\n"), c)
	ctx := context.Background()
	k.Mail(ctx, info("192.0.2.1"), "a@x.test", nil)
	k.Mail(ctx, info("192.0.2.1"), "a@x.test", nil)
	k.Mail(ctx, info("192.0.2.9"), "a@x.test", nil)
	clk.Advance(10 * time.Second)
	snap := c.Snapshot()

	c2 := NewCounters(clk, nil)
	if n, err := c2.Restore(snap); err != nil || n != 2 {
		t.Fatalf("Restore = %d, %v; want 2 counters", n, err)
	}
	k2, _ := New(connector(t, "    rate_limits: {address: {messages: 2}}\n"), c2)
	if r := refused(k2.Mail(ctx, info("192.0.2.1"), "a@x.test", nil)); r == "" {
		t.Fatal("after a restore, a third message passed a limit of 2")
	}
	if r := refused(k2.Mail(ctx, info("192.0.2.9"), "a@x.test", nil)); r != "" {
		t.Fatalf("192.0.2.9's second message: %s", r)
	}
	if !bytes.Equal(c2.Snapshot()[:1], []byte{snapshotVersion}) {
		t.Fatal("no version byte")
	}
	clk.Advance(3 * time.Minute)
	if got := c2.Snapshot(); len(got) != 1 {
		t.Fatalf("idle counters saved: %d bytes", len(got))
	}
	for _, bad := range [][]byte{{9}, {1, 0}, {1, 5, 'a'}, {1, 1, 'k', 0, 0, 0, 0, 0}} {
		if _, err := NewCounters(clk, nil).Restore(bad); err == nil {
			t.Errorf("Restore(%v) accepted", bad)
		}
	}
}

// FuzzRestore: no snapshot crashes Restore or makes counters that break
// the window arithmetic; what it accepts encodes back to itself.
func FuzzRestore(f *testing.F) {
	clk := clock.NewFake(t0)
	c := NewCounters(clk, nil)
	k, err := New(config.ReceiveConnector{Name: "in", RateLimits: config.RateLimits{IPv4Prefix: 24, IPv6Prefix: 64,
		Address: config.RateLimit{Window: config.Duration(time.Minute), Messages: 5},
		User:    config.RateLimit{Window: config.Duration(time.Hour), Recipients: 9}}}, c)
	if err != nil {
		f.Fatal(err)
	}
	k.Mail(context.Background(), info("192.0.2.1"), "a@x.test", nil)
	k.Rcpt(context.Background(), &smtp.ConnInfo{IP: info("192.0.2.1").IP, User: "u"}, "a@x.test", "b@y.test")
	f.Add(c.Snapshot())
	f.Add([]byte{1})
	f.Add([]byte{1, 3, 'a', 'b', 'c', 2, 4, 6, 8, 10})
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		for _, w := range ws {
			w.advance(t0, w.length)
			if e := w.estimate(t0); e < 0 {
				t.Fatalf("negative estimate %v", e)
			}
		}
		c := NewCounters(clock.NewFake(t0.Add(time.Hour*24*365*100)), nil)
		if _, err := c.Restore(b); err != nil {
			t.Fatalf("decoded, then Restore failed: %v", err)
		}
	})
}
