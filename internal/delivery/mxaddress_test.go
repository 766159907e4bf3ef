package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A domain that answered its MX but whose MX host has no address is not
// a domain that does not exist: the reply names the MX host and the
// lookup that failed (5.4.4), and an MX host that is an alias the DNS
// server answered without its target's address is followed and used. A
// domain that does not exist is still 5.1.2; a SERVFAIL for an MX host
// still defers.
func TestMXHostWithoutAddress(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	srv := dnstest.Start(t,
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"badmx.test. 300 IN MX 10 nohost.badmx.test.",
		"cnmx.test. 300 IN MX 10 alias.cnmx.test.",
		"alias.cnmx.test. 300 IN CNAME mx.ext.test.",
		"mx.ext.test. 300 IN A 127.0.0.2",
		"gonecn.test. 300 IN MX 10 alias.gonecn.test.",
		"alias.gonecn.test. 300 IN CNAME nohost.ext.test.",
		"two.test. 300 IN MX 10 gone1.two.test.",
		"two.test. 300 IN MX 20 gone2.two.test.",
		"mixed.test. 300 IN MX 10 gone.mixed.test.",
		"mixed.test. 300 IN MX 20 mx.broken.test.",
		"nodata.test. 300 IN MX 10 mx.nodata.test.",
		`mx.nodata.test. 300 IN TXT "no address here"`,
		`bare.test. 300 IN TXT "no MX, no address"`,
	)
	srv.NoChase("cnmx.test")
	srv.NoChase("gonecn.test")
	srv.Fail("broken.test")
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(t, res, config.Mailbox{}, mxConnector(portOf(s.addr)))
	for rcpt, want := range map[string]struct {
		o       queue.Outcome
		reply   string
		mention []string
	}{
		"u@badmx.test":   {queue.FailedPerm, "550 5.4.4", []string{"MX host nohost.badmx.test of badmx.test", "nohost.badmx.test", "no such host"}},
		"u@cnmx.test":    {queue.RelayedOK, "250", nil},
		"u@gonecn.test":  {queue.FailedPerm, "550 5.4.4", []string{"alias.gonecn.test", "nohost.ext.test", "CNAME chain"}},
		"u@two.test":     {queue.FailedPerm, "550 5.4.4", []string{"gone1.two.test", "gone2.two.test"}},
		"u@mixed.test":   {queue.Deferred, "451 4.4.4", []string{"mx.broken.test", "SERVFAIL"}},
		"u@nodata.test":  {queue.FailedPerm, "550 5.4.4", []string{"mx.nodata.test", "no A or AAAA record"}},
		"u@bare.test":    {queue.FailedPerm, "550 5.4.4", []string{"bare.test has no MX record and no address"}},
		"u@nowhere.test": {queue.FailedPerm, "550 5.1.2", []string{"domain nowhere.test not found"}},
	} {
		m := message(rcpt)
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != want.o || !strings.HasPrefix(res[0].Reply, want.reply) {
			t.Errorf("%s: %+v, want %v %s", rcpt, res, want.o, want.reply)
			continue
		}
		for _, w := range want.mention {
			if !strings.Contains(res[0].Reply, w) {
				t.Errorf("%s: reply %q does not mention %q", rcpt, res[0].Reply, w)
			}
		}
		if rcpt != "u@nowhere.test" && strings.Contains(res[0].Reply, "5.1.2") {
			t.Errorf("%s: reply %q blames the domain", rcpt, res[0].Reply)
		}
	}
}
