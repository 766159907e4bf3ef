package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/recipients"
)

// failingCallout is a callout whose next hop cannot be asked: err is
// what it says.
type failingCallout struct{ err error }

func (f failingCallout) Lookup(context.Context, string) (recipients.Verdict, error) {
	return recipients.CannotDecide, f.err
}

// SMTP-6, OPS-4 (front47 F1): a recipient the callout cannot decide
// (451 4.3.0, or 451 4.4.3 for a failing directory) is a refusal like
// every other: logged at INFO through the refusal log, with its reason
// and the reply's codes and the callout's error under err, rate-limited
// per source — thirty RCPTs of new addresses while the hubs are down
// write the bucket's ten lines, not thirty WARN lines.
func TestSMTP6UndecidedRecipientLoggedThroughRefusalLog(t *testing.T) {
	for _, c := range []struct {
		err        error
		reply      string
		want       string
		wantDetail string
	}{
		{fmt.Errorf("hub down"), "451 4.3.0", `reason=recipient_unverifiable code=451 enhanced_code=4.3.0`, `err="hub down"`},
		{fmt.Errorf("ldap: %w", recipients.ErrDirectoryFailure), "451 4.4.3", `reason=directory_failure code=451 enhanced_code=4.4.3`, `err="ldap: `},
		// A lookup whose search panicked (front48 item 4): umbra's own
		// fault, said as such — never "directory server failure".
		{fmt.Errorf("ldap %w: %w", recipients.ErrDirectoryFailure, recipients.ErrInternal), "451 4.3.0 Recipient address cannot be verified now: internal error of this server",
			`reason=internal_error code=451 enhanced_code=4.3.0`, `err="ldap `},
	} {
		var logs lockedBuf
		v := recipients.NewValidator([]recipients.DomainMode{
			{Pattern: "relay.test", Mode: recipients.ModeCallout},
		}, nil, failingCallout{c.err})
		clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
		s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, anon)})
		s.SetRecipients(v)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		for i := range 30 {
			d.cmd(fmt.Sprintf("RCPT TO:<new%d@relay.test>", i), c.reply)
		}
		d.cmd("QUIT", "221")
		d.closed()
		s.Shutdown(t.Context())
		refused := loggedOnceEach(t, logs.String(), "refused recipients", true, `msg="recipient refused"`, c.want)
		for _, l := range refused {
			if !strings.Contains(l, c.wantDetail) || !strings.Contains(l, "rcpt=new") {
				t.Errorf("line without the callout's error (%s) or the recipient: %s", c.wantDetail, l)
			}
		}
		if !strings.Contains(logs.String(), `msg="log lines suppressed"`) || !strings.Contains(logs.String(), "suppressed=20") {
			t.Errorf("no summary of the 20 lines suppressed:\n%s", logs.String())
		}
	}
}

// SMTP-3, OPS-4 (front47 F1, its sibling at AUTH): an AUTH the account
// directory cannot answer (454 4.7.0) is logged through the refusal log
// — reason accounts_unavailable, the reply's codes, the directory's
// error under err — rate-limited per source, not a WARN line per AUTH
// any client could repeat while the directory is down.
func TestSMTP3UnverifiableAuthLoggedThroughRefusalLog(t *testing.T) {
	var logs lockedBuf
	creds := credsFile(t)
	src := &fakeAccounts{down: true}
	conns := connectors(t, fmt.Sprintf(`
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, ldap: true, allow_insecure: true}
    permissions: {authenticated: [submit]}
ldap: {url: "ldap://127.0.0.1", base_dn: "dc=x", account_filter: "(uid=%%s)"}
`, creds))
	clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: conns, Accounts: src})
	for range 3 {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		for range 5 {
			d.cmd(plain("dora", "dora-pw"), "454 4.7.0")
		}
		d.cmd("QUIT", "221")
		d.closed()
	}
	s.Shutdown(t.Context())
	loggedOnceEach(t, logs.String(), "refused AUTH", true, `msg="authentication refused"`,
		`reason=accounts_unavailable code=454 enhanced_code=4.7.0`, `err="account directory unavailable: directory unreachable"`)
	if strings.Contains(logs.String(), "dora-pw") {
		t.Errorf("a password in the log:\n%s", logs.String())
	}
}

// SMTP-3, OPS-4 (front47 F1, its sibling at the end of data): a message
// tempfailed because a recipient a check added cannot be validated now
// is a refusal: logged as "message rejected" through the refusal log
// (reason added_recipient_deferred, the reply's codes), rate-limited per
// source, not a WARN line per message.
func TestSMTP3AddedRecipientTempfailLoggedThroughRefusalLog(t *testing.T) {
	var logs lockedBuf
	v := recipients.NewValidator([]recipients.DomainMode{
		{Pattern: "relay.test", Mode: recipients.ModeCallout},
	}, nil, undecided{})
	ck := &scripted{edit: func(tr *Transaction) { tr.Rcpts = append(tr.Rcpts, "someone@relay.test") }}
	clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, anon),
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }})
	s.SetRecipients(v)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for range 12 {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<bob@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nbody\r\n.", "451 4.3.0")
	}
	d.cmd("QUIT", "221")
	d.closed()
	s.Shutdown(t.Context())
	loggedOnceEach(t, logs.String(), "tempfailed messages", true, `msg="message rejected"`,
		`reason=added_recipient_deferred code=451 enhanced_code=4.3.0`, "rcpt=someone@relay.test")
}

// refusingHeldQueue is a queue whose every message leaves at once,
// refused by the next hop for all its recipients while the sender waits.
type refusingHeldQueue struct{ fakeQueue }

func (q *refusingHeldQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	c := make(chan struct{})
	close(c)
	return c, func() {}
}

func (q *refusingHeldQueue) HoldRefusal(queue.ID) func() *queue.Refusal {
	return func() *queue.Refusal {
		return &queue.Refusal{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user here"}
	}
}

// SR-9, OPS-4 (front47 F1, its sibling at delayed acknowledgement): a
// message the next hop refused while its sender waited is answered with
// that refusal, and logged as the refusal it is: "message rejected"
// through the refusal log (reason next_hop_refused_while_waiting, the
// code and enhanced code given), rate-limited per source.
func TestSR9RefusalWhileWaitingLoggedThroughRefusalLog(t *testing.T) {
	var logs lockedBuf
	clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Queue: &refusingHeldQueue{},
		Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true, Connectors: connectors(t, `
  - name: edge
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: 30s
`)})
	for range 4 { // sessions of three: the error limit ends a longer one
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		for range 3 {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<bob@example.test>", "250")
			d.cmd("DATA", "354")
			d.cmd("Subject: x\r\n\r\nbody\r\n.", "550 5.1.1")
		}
		d.cmd("QUIT", "221")
		d.closed()
	}
	s.Shutdown(t.Context())
	loggedOnceEach(t, logs.String(), "messages refused while waiting", false, `msg="message rejected"`,
		`reason=next_hop_refused_while_waiting code=550 enhanced_code=5.1.1`, "msg_id=")
}

// OPS-4 (front47 F1, its sibling at the checks): a message a check
// could not hold within the body memory budget (452 4.3.1) is logged
// once, by the refusal log's rate-limited line (which says so), not
// besides by a WARN line per message. The line names the message it
// refused, msg_id (words49 item 3: a check's refusal at the end of data
// named none).
func TestOPS4BodyBudgetRefusalByCheckLoggedOnce(t *testing.T) {
	var logs lockedBuf
	ck := &scripted{data: Verdict{Reply: replyBodyMemory}}
	clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, anon),
		BodyMemoryLimit: 1 << 20, Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }})
	for range 4 { // sessions of three: the error limit ends a longer one
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		for range 3 {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<bob@example.test>", "250")
			d.cmd("DATA", "354")
			d.cmd("Subject: x\r\n\r\nbody\r\n.", "452 4.3.1")
		}
		d.cmd("QUIT", "221")
		d.closed()
	}
	s.Shutdown(t.Context())
	loggedOnceEach(t, logs.String(), "messages a check refused over the body budget", true, `msg="refused by check"`,
		`reason=scripted code=452 enhanced_code=4.3.1`, `body="over the in-memory body budget"`, "msg_id=")
}

// loggedOnceEach checks log (what: the refusals it names) as the refusal
// log's rate limit writes it: the bucket's 10 lines that hold every one
// of parts, and, with noWarn, no WARN line. It returns those lines.
func loggedOnceEach(t *testing.T, log, what string, noWarn bool, parts ...string) []string {
	t.Helper()
	var matched, warned []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") {
			warned = append(warned, l)
		}
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(l, p) }) {
			matched = append(matched, l)
		}
	}
	if noWarn && len(warned) != 0 {
		t.Errorf("WARN lines for %s:\n%s", what, strings.Join(warned, "\n"))
	}
	if len(matched) != 10 {
		t.Errorf("%d log lines for %s with %q, want the bucket's 10:\n%s", len(matched), what, parts, log)
	}
	return matched
}
