package delivery

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/config"
)

// A queue redirect to this server itself would only move the mail into
// a 451 4.4.6 loop (the target is a smart host that is this server):
// RedirectSelf names it, for a target with a port and for one without
// (the port of a send connector that may route the queue's mail), and
// says nothing of another server.
func TestRedirectTargetThatIsThisServer(t *testing.T) {
	dns := &fakeDNS{hosts: map[string][]string{"me.example": {"127.0.0.2"}, "other.example": {"127.0.0.3"}}}
	d := newDeliverer(t, dns, config.Mailbox{},
		config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}}, Port: 2525})
	d.st.Load().cfg.OwnBindings = []string{"127.0.0.2:2525", "127.0.0.2:25"}
	for _, to := range []string{"127.0.0.2:2525", "127.0.0.2", "me.example:25", "me.example", "[::ffff:127.0.0.2]:25"} {
		if why := d.RedirectSelf(context.Background(), to); !strings.Contains(why, "451 4.4.6") || !strings.Contains(why, "this server") {
			t.Errorf("redirect to %s: %q, want it named as this server", to, why)
		}
	}
	for _, to := range []string{"127.0.0.3:2525", "127.0.0.3", "127.0.0.2:2526", "other.example"} {
		if why := d.RedirectSelf(context.Background(), to); why != "" {
			t.Errorf("redirect to %s: %q, want nothing (another server)", to, why)
		}
	}
}
