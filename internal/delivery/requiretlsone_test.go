package delivery

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// TLS-1, RFC 8689 §4.2.1 and §5: a verified hop that does not offer
// REQUIRETLS fails a REQUIRETLS message 550 5.7.10, but not its
// bounce (the null reverse path): one rule for every relay, inside the
// organisation as through a send connector (requireTLSRefusal).
func TestRequireTLSBounceRelayedInsideToHubWithout(t *testing.T) {
	ca := newTestCA(t)
	for _, tc := range []struct {
		name  string
		from  string
		want  queue.Outcome
		reply string
	}{
		{"message", "sender@example.org", queue.FailedPerm, "550 5.7.10 REQUIRETLS: hub-b["},
		{"bounce", "", queue.RelayedOK, "250"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSink(t, "127.0.0.8:0", false, &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "hub-b")}}) // no REQUIRETLS
			d := hubAToHubB(t, s.addr, &tls.Config{RootCAs: ca.pool})
			m := message("r@remote.example")
			m.From, m.RequireTLS, m.OrgID = tc.from, true, orgid.New()
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != tc.want || !strings.HasPrefix(res[0].Reply, tc.reply) {
				t.Fatalf("%+v, want %v %q", res, tc.want, tc.reply)
			}
		})
	}
}
