package smtp

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// EDGE, OPS-4 (words49 item 3): a check that changes From: after
// message authentication, or writes a result under umbra's authserv-id,
// is noted on the front door's rate-limited log (refusallog.go) with the
// message's id — never a WARN line per message, which any client whose
// mail a milter rewrites could multiply without bound. Seen to fail
// first: fifteen messages wrote fifteen WARN lines of each.
func TestCheckEditsOfResultsNotedThroughRefusalLog(t *testing.T) {
	own := "Authentication-Results: mx.corp.test;\r\n\tdmarc=fail header.from=evil.test\r\n"
	for _, tc := range []struct {
		name, msg, reason string
		edit              func(string) string
	}{
		{"From changed", `msg="From: changed by a check after message authentication; umbra's results removed"`, "reason=from_changed_by_check",
			func(m string) string { return strings.Replace(m, "From: a@evil.test", "From: ceo@bank.test", 1) }},
		{"result forged", `msg="Authentication-Results claiming umbra's authserv-id removed after the checks"`, "reason=results_forged_by_check",
			func(m string) string {
				return "Authentication-Results: mx.corp.test; dmarc=pass header.from=bank.test\r\n" + m
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuf
			q := &fakeQueue{}
			clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
			checks := []Check{&ownResults{field: own}, &editor{edit: tc.edit}}
			s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, anon), Queue: q,
				Checks: func(config.ReceiveConnector) ([]Check, error) { return checks, nil }})
			s.SetAuthservIDs(FrontDoorIDs{Own: []string{"mx.corp.test"}, ServerOnly: []string{"mx.corp.test"}})
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.test", "250")
			for range 15 {
				d.cmd("MAIL FROM:<a@evil.test>", "250")
				d.cmd("RCPT TO:<alice@example.test>", "250")
				d.cmd("DATA", "354")
				d.cmd("From: a@evil.test\r\nSubject: x\r\n\r\nhello\r\n.", "250")
			}
			d.cmd("QUIT", "221")
			d.closed()
			s.Shutdown(t.Context())
			if q.count() != 15 {
				t.Fatalf("queued %d, want 15", q.count())
			}
			for _, l := range loggedOnceEach(t, logs.String(), tc.name, true, tc.msg, tc.reason) {
				if !strings.Contains(l, "msg_id=") || !strings.Contains(l, "client_ip=127.0.0.1") {
					t.Errorf("line without the message's id or the client: %s", l)
				}
			}
			if !strings.Contains(logs.String(), `msg="log lines suppressed"`) || !strings.Contains(logs.String(), "suppressed=5") {
				t.Errorf("no summary of the 5 lines suppressed:\n%s", logs.String())
			}
		})
	}
}
