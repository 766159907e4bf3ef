package delivery

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// opsPort is a free port in 7000-7999 on ip.
func opsPort(t *testing.T, ip string) string {
	t.Helper()
	for p := 7000; p < 8000; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return strconv.Itoa(p)
		}
	}
	t.Fatal("no free port in 7000-7999")
	return ""
}

// SMTP-4 (the unspecified address, rt27c F2's sibling): an MX host whose
// DNS lists 0.0.0.0 among its addresses counted as this server whole —
// its real addresses were skipped, and with it every MX host no better
// than it, and the mail bounced as a loop (554 5.4.6). The unspecified
// address is never connected to (it reaches this machine itself), but it
// is not this server: the host's other addresses and the backup MX hosts
// are tried. An MX whose every address is unspecified is still a loop.
func TestSMTP4UnspecifiedMXAddressIsNotThisServer(t *testing.T) {
	port := opsPort(t, "127.0.0.124")
	peer := startSinkNamed(t, "127.0.0.124:"+port, false, nil, "peer.example")
	dns := &fakeDNS{mx: map[string][]*net.MX{
		"mixed.example":  {{Host: "mx.mixed.example.", Pref: 10}},
		"backup.example": {{Host: "zero.example.", Pref: 10}, {Host: "peer.example.", Pref: 20}},
		"zero6.example":  {{Host: "mx.zero6.example.", Pref: 10}, {Host: "peer.example.", Pref: 20}},
		"only.example":   {{Host: "zero.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.mixed.example": {"0.0.0.0", "127.0.0.124"}, "zero.example": {"0.0.0.0"},
			"mx.zero6.example": {"::"}, "peer.example": {"127.0.0.124"}}}
	own := []string{"127.0.0.125:" + port}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	d.st.Load().cfg.OwnBindings = own
	for i, dom := range []string{"mixed.example", "backup.example", "zero6.example"} {
		m := message("u@" + dom)
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
			t.Errorf("%s: %+v, want relayed to its real address", dom, res)
		}
		if n := len(peer.received()); n != i+1 {
			t.Errorf("%s: the peer has %d messages, want %d", dom, n, i+1)
		}
	}
	m := message("u@only.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "554 5.4.6") ||
		!strings.Contains(res[0].Reply, "unspecified address") {
		t.Errorf("an MX whose only address is 0.0.0.0: %+v, want 554 5.4.6 naming the unspecified address", res)
	}
	// route explain's check says the same.
	sc := d.CheckSelf(context.Background(), "internet", "mixed.example")
	if sc.Loops || sc.Self != "" || len(sc.Tried) != 1 || !strings.Contains(sc.Tried[0], "127.0.0.124") ||
		len(sc.Skipped) != 1 || !strings.Contains(sc.Skipped[0], "0.0.0.0") {
		t.Errorf("CheckSelf of mixed.example: %+v, want its real address tried and 0.0.0.0 skipped", sc)
	}
}
