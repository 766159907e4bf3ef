package smtp

import (
	"fmt"
	"strings"
	"testing"

	"umbra/internal/routing"
)

// SMTP-3 (README: the 451 4.7.1 names what took the right): a
// transaction whose recipient of an accepted domain was taken under
// submit, the reload then taking that domain from the accepted domains
// (the session's rights as they were), is refused 451 4.7.1 naming the
// accepted domain the reload took — not "a reload of this server's
// receive connectors", which changed nothing here.
func TestSMTP3RightLostByAcceptedDomainRemovedNamesTheDomain(t *testing.T) {
	addr := laneAddr(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
`, addr))
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	for _, stage := range []string{"DATA", "body"} {
		d := dial(t, s, "127.0.0.144")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		other := routing.NewTable([]routing.AcceptedDomain{{Domain: "other.test", Type: routing.Authoritative}}, nil)
		if stage == "body" {
			d.cmd("DATA", "354")
			d.send("Subject: x\r\n\r\nhi\r\n")
		}
		if err := s.Reload(conns, other); err != nil {
			t.Fatal(err)
		}
		var got string
		if stage == "body" {
			got = d.cmd(".", "451 4.7.1")
		} else {
			got = d.cmd("DATA", "451 4.7.1")
		}
		if !strings.Contains(got, "example.test from this server's accepted domains") || strings.Contains(got, "receive connectors") {
			t.Errorf("%s: %q; want the accepted domain the reload took named as the cause", stage, got)
		}
		if err := s.Reload(conns, testTable()); err != nil {
			t.Fatal(err)
		}
	}
	if q.count() != 0 {
		t.Errorf("%d messages queued", q.count())
	}
}
