package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// SR-17 (shadow45 item 2): a push whose MAIL the peer refused and which
// then hangs — the refusal read, the next reply never coming — runs out
// of its try's bound. The try's error quoted the refusal with %w, so the
// copy was taken for one the peer refused (refusedCopy): a batch refused
// whole read as a refusal of each copy in it, the server marked as one
// refusing copies, and no hungAt recorded for the server that hangs. It
// is a timed-out try (smtp.ErrCopyTimedOut), in a batch and alone (a
// copy pushed in one trip, the sibling): no refusal, the server hung.
func TestSR17RefusedThenHungPushIsATimeoutNotARefusal(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	for _, c := range []struct {
		name string
		port int
		ehlo []string
	}{
		{"batch (verbs 6)", 39450, []string{"XSHADOW 6", "PIPELINING", "CHUNKING", "8BITMIME"}},
		{"alone, in one trip (verbs 5)", 39500, []string{"XSHADOW 5", "PIPELINING", "CHUNKING", "8BITMIME"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.170", c.port, 50), testsupport.HubScript{Fault: testsupport.FaultMail452Hang, EHLO: c.ehlo})
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.170:9449"},
					{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: b.Addr()}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
				Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
				CommandTimeout: time.Hour, DataTimeout: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r := NewReceiptShadow(d, "db-a")
			defer r.Close()
			link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
			if err != nil {
				t.Fatal(err)
			}
			m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
				Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
			err = link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")))
			link.Done(err == nil)
			if b.Faults.Load() == 0 {
				t.Fatal("the peer never refused a MAIL: the test proves nothing")
			}
			var se *gosmtp.SMTPError
			if errors.As(err, &se) || refusedCopy(err) {
				t.Errorf("push refused at MAIL, then hung: %v; taken for a refusal of the copy (%v)", err, se)
			}
			if !errors.Is(err, smtp.ErrCopyTimedOut) {
				t.Errorf("push refused at MAIL, then hung: %v; want smtp.ErrCopyTimedOut", err)
			}
			if _, hung := r.hungAt.Load(mailaddr.NameKey("hub-b")); !hung {
				t.Error("no hungAt recorded for the server that hung: the next copies wait on it again")
			}
			if n := b.Count(); n != 1 {
				t.Errorf("the hung peer had %d sessions; want 1 (no second try on it)", n)
			}
		})
	}
}
