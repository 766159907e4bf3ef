package delivery

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// rt27c F2: a smart host 0.0.0.0 (or a name resolving to it, or [::])
// passed the loop check when this server listened on a specific
// address: the unspecified address was taken for 127.0.0.1. Linux
// connects it to this machine itself — to the source address when one is
// bound (server.source_address), which reached this server's own
// listener: it refused the relay with 550 and the message failed for
// good. A resolved next hop address that is unspecified is a loop as an
// address this server listens on is: deferred with 451 4.4.6, never
// connected to (SMTP-3's relay check then never sees it).
func TestUnspecifiedNextHopIsALoop(t *testing.T) {
	dns := &fakeDNS{hosts: map[string][]string{"zero.example": {"0.0.0.0"}, "zero6.example": {"::"}}}
	own := []string{"127.0.0.19:2525"}
	for _, sh := range []string{"0.0.0.0:2525", "0.0.0.0:2600", "[::]:2525", "[::ffff:0.0.0.0]:2525", "zero.example:2525", "zero6.example"} {
		t.Run(sh, func(t *testing.T) {
			c := config.SendConnector{Name: "smart", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
				SmartHosts: []string{sh}, TLS: config.TLSNone}
			d := newDeliverer(t, dns, config.Mailbox{}, c)
			d.st.Load().cfg.OwnBindings = own
			m := message("u@far.example")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.6") ||
				!strings.Contains(res[0].Reply, "the unspecified address") {
				t.Fatalf("smart host %s: %+v", sh, res)
			}
			if why := d.RedirectSelf(context.Background(), sh); !strings.Contains(why, "unspecified address") {
				t.Fatalf("redirect to %s: %q, want it refused as the unspecified address", sh, why)
			}
		})
	}
}
