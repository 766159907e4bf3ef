package delivery

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// EDGE (RFC 7505 §3, RFC 5321 §5.1): a null MX is exactly one MX record,
// of preference 0, whose exchange is the root ("."): the domain takes no
// mail, and its recipients fail at once (556 5.1.10). Nothing else is
// one. An MX answer whose one record is cut short (RDATA "0014": a
// preference and no exchange, the last bytes of the packet) is a broken
// answer, which the resolver gives as a temporary failure: the message
// is deferred (451 4.4.3), never bounced as a null MX. A "." exchange
// beside other MX records, or of a preference other than 0, names no
// host: it is skipped, as an exchange that is an IP address is — the
// other hosts take the mail, and with none the recipients fail 550
// 5.4.4 naming it. Real DNS server and SMTP sink on loopback.
func TestNullMXIsExactlyOneRootRecordOfPreferenceZero(t *testing.T) {
	s := startSink(t, "127.0.0.170:9003", false, nil)
	srv := dnstest.StartOn(t, "127.0.0.170:9002",
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"null.test. 300 IN MX 0 .",
		"root10.test. 300 IN MX 10 .",
		"nullplus.test. 300 IN MX 0 .",
		"nullplus.test. 300 IN MX 10 mx.ok.test.",
		"mx.ok.test. 300 IN A 127.0.0.170",
	)
	srv.Raw("badmx2.test", dns.TypeMX, []byte{0x00, 0x14})
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	d := newDeliverer(t, res, config.Mailbox{}, mxConnector(portOf(s.addr)))
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	for _, c := range []struct {
		rcpt    string
		o       queue.Outcome
		reply   string
		mention string
	}{
		{"u@null.test", queue.FailedPerm, "556 5.1.10 domain null.test accepts no mail (null MX)", ""},
		{"u@badmx2.test", queue.Deferred, "451 4.4.3 MX lookup for badmx2.test failed", "MX record of badmx2.test. cut short"},
		{"u@root10.test", queue.FailedPerm, "550 5.4.4 MX host . of root10.test has no address", "names no host"},
		{"u@nullplus.test", queue.RelayedOK, "250", ""},
	} {
		m := message(c.rcpt)
		got := d.Deliver(context.Background(), m, body, all(m))
		if len(got) != 1 || got[0].Outcome != c.o || !strings.HasPrefix(got[0].Reply, c.reply) || !strings.Contains(got[0].Reply, c.mention) {
			t.Errorf("%s: %+v, want %v %q mentioning %q", c.rcpt, got, c.o, c.reply, c.mention)
		}
	}
	if n := len(s.received()); n != 1 {
		t.Errorf("sink got %d messages, want 1 (nullplus.test's)", n)
	}
	if !strings.Contains(logs.String(), "root10.test") {
		t.Errorf("no log line naming the skipped \".\" exchange:\n%s", logs.String())
	}

	// route explain's self check (CheckSelf) reads the MX answer as
	// delivery does.
	for dom, want := range map[string]string{
		"null.test":   "domain null.test accepts no mail (null MX)",
		"badmx2.test": "MX lookup for badmx2.test failed",
		"root10.test": "",
	} {
		sc := CheckSelf(context.Background(), res, "umbra.test", nil, "internet", nil, 25, 0, dom)
		if !strings.HasPrefix(sc.Error, want) || (want == "") != (sc.Error == "") {
			t.Errorf("CheckSelf %s: %+v, want error %q", dom, sc, want)
		}
	}
}
