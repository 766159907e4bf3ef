package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// RT-11, rt36 front F2: a DSN to a sender's address literal or IP-address
// text, on a server with no send connector for it (no `*`), was deferred
// "451 4.4.4 no send connector for domain [127.0.0.1]" and retried until
// message_expiration, while route explain and the README say it fails at
// once with 550 5.1.2. The address is judged before the connector lookup,
// with a topology or without one.
func TestAddressSenderFailsAtOnceWithoutAConnector(t *testing.T) {
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil)
	d, err := New(Config{Hostname: "umbra.test", Routing: table, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, rcpt := range []string{"a@[127.0.0.1]", "a@[IPv6:::1]", "a@127.0.0.1", "a@127.1"} {
		m := &queue.Message{ID: 0xF2, From: "", Size: 40, Rcpts: []queue.Recipient{{Addr: rcpt}}}
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.1.2") {
			t.Errorf("a DSN to %s with no send connector: %+v, want 550 5.1.2 at once", rcpt, res)
		}
	}
}

// RT-11, rt36 front F2's sibling: route explain's "this server:" check
// (CheckSelf) looked the smart hosts up for an address literal, while
// delivery fails it with 550 5.1.2 through a smart host too (rt26 F6):
// both now judge the address first.
func TestCheckSelfJudgesAnAddressBeforeTheSmartHosts(t *testing.T) {
	for _, dom := range []string{"[127.0.0.1]", "127.0.0.1"} {
		c := CheckSelf(context.Background(), nil, "umbra.test", nil, "out", []string{"127.0.0.180:10020"}, 25, 0, dom)
		if !strings.Contains(c.Error, "550 5.1.2") {
			t.Errorf("CheckSelf of %s through a smart host: %+v, want delivery's 550 5.1.2", dom, c)
		}
	}
}
