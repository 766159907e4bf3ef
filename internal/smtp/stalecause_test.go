package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// rrverbs40 F3 (SR-17, OPS- shadow list): the cause a refusal for
// another server's database id records (verbs40 F2) was kept on the
// session until its next XSHADOW passed the syntax: a copy refused for
// it (MAIL … XSHADOWCOPY=) left it there, and the session's next XSHADOW,
// refused because a reload took the shadow verbs away from the
// connector, was told to shadow list with that cause — the database id,
// not the connector that no longer offers XSHADOW. A refusal is told
// with a cause only when that refusal had it.
func TestSR17RefusalNotToldWithAnEarlierCopysCause(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	addr, creds := verbs40Addr(t), credsFile(t)
	conf := func(rights string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [%s]}
`, addr, creds, rights)
	}
	s := startShadowServer(t, q, newPartialShadow(), true, connectors(t, conf("submit, relay, accept-xshadow")))
	r := &causeNotingReceipt{}
	s.SetReceiptShadow(r)
	d := dial(t, s, "127.0.0.128")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=dbB", "550 5.7.1")
	if err := s.Reload(connectors(t, conf("submit, relay")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("XSHADOW hub2", "502 5.5.1")
	d.cmd("QUIT", "221")
	if got := r.told(); len(got) != 0 {
		t.Fatalf("causes told %q, want none: the last refusal was the connector's", got)
	}
	r.mu.Lock()
	refused := strings.Join(r.refused, ",")
	r.mu.Unlock()
	if refused != "hub2" {
		t.Fatalf("refusals noted %q, want hub2's (without a cause)", refused)
	}
}
