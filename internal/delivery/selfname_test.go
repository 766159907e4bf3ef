package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// rt16b-F1: an MX host that carries this server's host name but whose
// address this server does not listen on is another server (two servers
// may share a name, never a listening address): it is tried, it takes
// the message, and the backup MX is not dropped. route explain's check
// (CheckSelf) finds no loop either.
func TestMXWithThisServersNameIsAnotherServer(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	port := portOf(s.addr)
	dns := &fakeDNS{mx: map[string][]*net.MX{"two.example": {
		{Host: "UMBRA.test.", Pref: 10}, {Host: "backup.two.example.", Pref: 20}}},
		hosts: map[string][]string{"UMBRA.test": {"127.0.0.2"}, "backup.two.example": {"127.0.0.3"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	own := []string{"127.0.0.9:" + port}
	d.st.Load().cfg.OwnBindings = own
	m := message("x@two.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK || !strings.HasPrefix(res[0].NextHop, "UMBRA.test[127.0.0.2]") {
		t.Fatalf("results: %+v", res)
	}
	if got := s.received(); len(got) != 1 {
		t.Fatalf("the MX host named as this server got %d messages, want 1", len(got))
	}
	c := CheckSelf(context.Background(), dns, "umbra.test", own, "internet", nil, portNumberOf(t, port), 0, "two.example")
	if c.Self != "" || c.Loops || len(c.Tried) == 0 {
		t.Errorf("check: %+v", c)
	}
}

// The name is a hint only: the host named as this server whose address
// is one this server listens on is this server; the reply and the check
// name the address that matched, in the same words.
func TestMXWithThisServersNameAndAddressLoops(t *testing.T) {
	dns := &fakeDNS{mx: map[string][]*net.MX{"own.example": {{Host: "umbra.test.", Pref: 10}}},
		hosts: map[string][]string{"umbra.test": {"127.0.0.9"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector("2525"))
	own := []string{"127.0.0.9:2525"}
	d.st.Load().cfg.OwnBindings = own
	m := message("x@own.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	want := "554 5.4.6 mail for own.example loops back to myself: next hop umbra.test[127.0.0.9]:2525 is an address this server listens on"
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || res[0].Reply != want {
		t.Fatalf("results: %+v\nwant reply %q", res, want)
	}
	c := CheckSelf(context.Background(), dns, "umbra.test", own, "internet", nil, 2525, 0, "own.example")
	if c.Self != "umbra.test[127.0.0.9]:2525" || !c.Loops || c.Reply != want ||
		c.Says != "next hop umbra.test[127.0.0.9]:2525 is an address this server listens on" {
		t.Errorf("check: %+v", c)
	}
}

func portNumberOf(t *testing.T, p string) int {
	n, ok := portNumber(p)
	if !ok {
		t.Fatalf("port %q", p)
	}
	return n
}
