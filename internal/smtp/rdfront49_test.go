package smtp

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
)

// A QUIT with an argument is refused (501) and quits nothing: it is an
// error and a junk command like any other, so a client cannot send it
// without bound past max_errors or max_junk_commands — only the bare
// QUIT is exempt from the limits (README "QUIT is never counted").
func TestSMTP8QuitWithArgumentCountsTowardTheLimits(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 1000, max_errors: 5, soft_error_limit: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for i := 0; i < 5; i++ {
		if r := d.cmd("QUIT now", ""); !strings.HasPrefix(r, "501") {
			t.Fatalf("QUIT now #%d: %q, want 501", i+1, r)
		}
	}
	if r := d.cmd("QUIT now", ""); !strings.HasPrefix(r, "421 4.7.0 Too many errors") {
		t.Fatalf("QUIT now past max_errors: %q, want the 421 of the error limit", r)
	}
}

// rcptHang is a RCPT check that looks up for as long as its context
// lives, and says when that context ended.
type rcptHang struct{ ended chan struct{} }

func (rcptHang) Name() string { return "hang" }
func (h rcptHang) Rcpt(ctx context.Context, _ *ConnInfo, _, _ string) Verdict {
	<-ctx.Done()
	close(h.ended)
	return Verdict{}
}

// A RCPT check runs for the client that asked: one that closes its
// connection while the check runs ends the check's context, as at the
// end of data (checkContext), rather than keeping a lookup going for
// nobody until the server stops.
func TestRcptCheckStopsWhenTheClientLeaves(t *testing.T) {
	h := rcptHang{ended: make(chan struct{})}
	es := startEndServer(t, endConnector, ServerConfig{
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{h}, nil }})
	d := dial(t, es.Server, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	if _, err := d.conn.Write([]byte("RCPT TO:<b@example.test>\r\n")); err != nil {
		t.Fatal(err)
	}
	d.conn.Close()
	select {
	case <-h.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the RCPT check still runs after its client left")
	}
}
