package smtp

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// SR-1, SR-6 (shadow31 S2): a primary running with
// shadow_redundancy_enabled: false offers no XSHADOW and refuses the
// verb — and advertised no database digest either, so the holders of
// copies of its messages (made while it was on) counted each refused
// heartbeat as a failed one and took the copies over while it ran and
// delivered the messages: a second delivery. The digest is no secret
// (the id is); the switch takes the verbs away, not the evidence that
// this server is alive with its database: XSHADOWDB goes on every
// connector a server may open a shadow session on, switch or not, and
// the verb is refused with a 5xx (the holder judges that refusal by the
// digest: refused, alive).
func TestSR1DigestAdvertisedWithShadowRedundancyOff(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, false, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	ehlo := d.cmd("EHLO hub2.test", "250")
	if offersXShadow(ehlo) {
		t.Fatalf("XSHADOW offered with shadow_redundancy_enabled false:\n%s", ehlo)
	}
	want := "250-XSHADOWDB " + queue.DatabaseDigest(sh.DatabaseID())
	if !strings.Contains(ehlo, want) {
		t.Fatalf("EHLO with shadow_redundancy_enabled false:\n%s\nwant %q: a holder of this server's copies must see it alive with its database", ehlo, want)
	}
	d.cmd(authHub2, "235")
	if r := d.cmd("XSHADOW hub2.test", "5"); strings.Contains(r, sh.DatabaseID()) {
		t.Fatalf("XSHADOW with shadow_redundancy_enabled false answered with the id: %q", r)
	}
}
