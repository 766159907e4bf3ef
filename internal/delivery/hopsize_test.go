package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"

	gosmtp "github.com/emersion/go-smtp"
)

// rt16b-F3: a next hop's own SIZE (its EHLO reply, RFC 1870) limits what
// umbra sends: a message over it is not sent there (no MAIL, no body);
// it is that host's refusal of the message (552 5.3.4, naming its limit
// and the message's size), and the next host is tried. When every host
// refuses, the recipient fails quoting it. SIZE without a number, or 0,
// is no limit.
func TestNextHopSizeLimitsWhatIsSent(t *testing.T) {
	small := startOldHost(t, "127.0.0.2:0", "250-small.example\r\n250 SIZE 10", "250 small.example")
	port := portOf(small.addr)
	open := startOldHost(t, "127.0.0.3:"+port, "250-open.example\r\n250-SIZE\r\n250 8BITMIME", "250 open.example")
	zero := startOldHost(t, "127.0.0.4:"+port, "250-zero.example\r\n250 SIZE 0", "250 zero.example")
	dns := &fakeDNS{mx: map[string][]*net.MX{
		"two.example":  {{Host: "small.example.", Pref: 10}, {Host: "open.example.", Pref: 20}},
		"one.example":  {{Host: "small.example.", Pref: 10}},
		"zero.example": {{Host: "zero.example.", Pref: 10}}},
		hosts: map[string][]string{"small.example": {"127.0.0.2"}, "open.example": {"127.0.0.3"}, "zero.example": {"127.0.0.4"}}}
	sc := mxConnector(port)
	sc.TLS = config.TLSOpportunistic
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	// The size sent, and the size stored beside it where they differ
	// (TestRT7HopSizeRefusalNamesStoredSize).
	want := fmt.Sprintf("552 5.3.4 small.example[127.0.0.2]:%s takes messages of at most 10 bytes (its SIZE), this one is %d bytes", port, len(body))
	if m := message("x@one.example"); m.Size != int64(len(body)) {
		want += fmt.Sprintf(" (the size sent; %d bytes as stored, the size the log and umbra message list give)", m.Size)
	}

	m := message("x@two.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK || !strings.HasPrefix(res[0].NextHop, "open.example[") {
		t.Fatalf("two hosts: %+v", res)
	}
	m = message("x@one.example")
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || res[0].Reply != want {
		t.Fatalf("one host: %+v\nwant %q", res, want)
	}
	for _, c := range small.commands() {
		if strings.HasPrefix(c, "MAIL") || c == "DATA" {
			t.Fatalf("sent to a host whose SIZE it exceeds: %q", small.commands())
		}
	}
	m = message("x@zero.example")
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("SIZE 0: %+v", res)
	}
	if len(open.commands()) == 0 || len(zero.commands()) == 0 {
		t.Fatal("hosts without a limit not used")
	}
}

// The same for final delivery over LMTP (RFC 2033 keeps SIZE): a
// message over the mailbox server's declared SIZE is not sent; the
// recipients fail 552 5.3.4 naming its limit.
func TestLMTPSizeLimitsWhatIsSent(t *testing.T) {
	s := startSinkWith(t, "127.0.0.1:0", true, nil, "", func(srv *gosmtp.Server) { srv.MaxMessageBytes = 10 })
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
	m := message("ok@example.test")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "552 5.3.4 ") ||
		!strings.Contains(res[0].Reply, "takes messages of at most 10 bytes (its SIZE)") {
		t.Fatalf("results: %+v", res)
	}
}
