package smtp

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/config"
)

// SR-17, OPS (shadow45 item 4, sibling): a copy on receipt whose push
// failed on the chosen server and that the next candidate then kept was
// logged at INFO only for the failure ("… trying the next shadow
// server"); its success, on that next server, only at DEBUG: the
// operator saw the copy fail and never where it went. The copy made on
// the next server is logged once at INFO, as the failure line is.
func TestSR17CopyMadeOnNextServerAfterFailureLoggedAtInfo(t *testing.T) {
	at := func(extra string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
%s`, freeAddrIn(t, "127.0.0.170", 9900, 10000), credsFile(t), extra))
	}
	peer := startShadowServer(t, &copyQueue{}, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, at(""))
	q := &markingQueue{}
	r := &refusingReceipt{fakeReceipt: fakeReceipt{peer: peer}}
	logs := &syncBuffer{}
	s := receiptServerOn(t, q, at("    max_acknowledgement_delay: 30s\n    shadow_on_receipt: prefer-remote\n"), r, nil,
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	if got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250"); !strings.Contains(got, "shadow copy on hub-c") {
		t.Fatalf("reply %q; want the copy on hub-c, the next candidate", got)
	}
	if failed := logs.lines("trying the next shadow server"); len(failed) != 1 {
		t.Fatalf("failure lines %q; want one: the test proves nothing", failed)
	}
	made := logs.lines("made on the next shadow server")
	if len(made) != 1 || !strings.Contains(made[0], "level=INFO") || !strings.Contains(made[0], "shadow_server=hub-c") {
		t.Fatalf("lines of the copy made on the next server: %q; want one at INFO naming hub-c", made)
	}
}
