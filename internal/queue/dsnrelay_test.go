package queue

import (
	"context"
	"strings"
	"testing"
	"time"
)

// relayer answers every recipient RelayedOK through an organisation
// relay (queue site:b, an internal hub) or a send connector, with or
// without the next hop taking the DSN parameters.
type relayer struct {
	*scripted
	queue, hop string
	passed     bool
}

func (d *relayer) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	res := d.scripted.Deliver(ctx, m, body, rcpts)
	if len(d.seen) == 1 { // the message itself, not a DSN
		for k := range res {
			res[k].Queue, res[k].NextHop, res[k].DSNPassed = d.queue, d.hop, d.passed
		}
	}
	return res
}

// RFC 3461 §6.2 (issue: wrong DSNs for relayed recipients): NOTIFY=SUCCESS
// to a next hop that took the DSN parameters gives no DSN here; to one
// that did not, a DSN with Action: relayed, never "delivered"; and an
// organisation server never appears as Remote-MTA.
func TestSuccessDSNForRelayedRecipients(t *testing.T) {
	for _, c := range []struct {
		name, queue, hop string
		passed           bool
		wantDSN          bool
		remoteMTA        string
	}{
		{"internal hop took DSN", "site:b", "hub-b[10.0.0.2:25]", true, false, ""},
		{"internal hop without DSN", "site:b", "hub-b[10.0.0.2:25]", false, true, ""},
		{"outside hop took DSN", "smarthost:out", "mx.partner.example[192.0.2.7]:25", true, false, ""},
		{"outside hop without DSN", "smarthost:out", "mx.partner.example[192.0.2.7]:25", false, true, "mx.partner.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			d := &relayer{scripted: newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 Ok: queued as 1" }),
				queue: c.queue, hop: c.hop, passed: c.passed}
			q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			m := msg(s, "sender@example.org", "x@remote.example")
			m.Rcpts[0].Notify = NotifySuccess
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			d.wait(t)
			if !c.wantDSN {
				select {
				case <-d.calls:
					t.Fatal("a success DSN although the next hop took the DSN parameters")
				case <-time.After(300 * time.Millisecond):
				}
				return
			}
			d.wait(t)
			d.mu.Lock()
			dsn := d.seen[1].Helo
			d.mu.Unlock()
			if !strings.Contains(dsn, "Action: relayed") || strings.Contains(dsn, "Action: delivered") {
				t.Errorf("want Action: relayed:\n%s", dsn)
			}
			if strings.Contains(dsn, "hub-b") || strings.Contains(dsn, "10.0.0.2") {
				t.Errorf("an organisation server is shown to the sender:\n%s", dsn)
			}
			if got := strings.Contains(dsn, "Remote-MTA: dns; "+c.remoteMTA); c.remoteMTA != "" && !got {
				t.Errorf("want Remote-MTA %s:\n%s", c.remoteMTA, dsn)
			}
			if c.remoteMTA == "" && strings.Contains(dsn, "Remote-MTA") {
				t.Errorf("Remote-MTA for an internal hop:\n%s", dsn)
			}
		})
	}
}
