package msgauth

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// The acceptance tests: real SMTP to umbra's receive side on loopback,
// the client at 127.0.0.2, every DNS answer from a DNS server on
// loopback. The sender domains' SPF records allow 192.0.2.1 only, so
// SPF fails for the client unless a test says otherwise.

// recQueue keeps what the receive side queued.
type recQueue struct {
	mu     sync.Mutex
	next   queue.ID
	msgs   []*queue.Message
	bodies []string
	// spooled: each SubmitBody's body was in a spool file.
	spooled []bool
}

func (q *recQueue) NewID() queue.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	return 0x1000 + q.next
}

func (q *recQueue) Submit(_ context.Context, m *queue.Message, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, m)
	q.bodies = append(q.bodies, string(body))
	return nil
}

// SubmitBody takes a spooled body (large messages stream) whole, as the
// queue stores it.
func (q *recQueue) SubmitBody(ctx context.Context, m *queue.Message, body queue.Body) error {
	b, err := body.Bytes()
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.spooled = append(q.spooled, body.Spooled())
	q.mu.Unlock()
	return q.Submit(ctx, m, b)
}

func (q *recQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	close(ch)
	return ch, func() {}
}

func (q *recQueue) last(t *testing.T) (*queue.Message, string) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		t.Fatal("nothing queued")
	}
	return q.msgs[len(q.msgs)-1], q.bodies[len(q.bodies)-1]
}

type edge struct {
	src  string // the client's address, 127.0.0.2 when empty
	addr string
	dns  *dnstest.Server
	q    *recQueue
	met  *Metrics
}

// startEdge runs umbra's receive side with one connector whose
// message_authentication block is given (YAML flow mapping), checks
// built by msgauth.New over a resolver asking the loopback DNS server.
// edgeOwnDomain is the test edge's organisation's domains: its accepted
// domain, and corp.lan, one whose top label is no top-level domain.
func edgeOwnDomain(d string) bool { return d == "example.test" || d == "corp.lan" }

func startEdge(t *testing.T, msgauth string, records ...string) *edge {
	t.Helper()
	return startEdgeWith(t, 0, msgauth, records...)
}

// startEdgeWith is startEdge with bodies past spoolThreshold bytes in
// spool files (0: in memory).
func startEdgeWith(t *testing.T, spoolThreshold int64, msgauth string, records ...string) *edge {
	t.Helper()
	dns := dnstest.Start(t, records...)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`server: {name: mx.example.test}
receive_connectors:
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    message_authentication: %s
`, msgauth)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	q := &recQueue{}
	met := NewMetrics(prometheus.NewRegistry())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var spool func() (*queue.SpoolFile, error)
	if spoolThreshold > 0 {
		st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		spool = st.NewSpool
	}
	s, err := smtp.NewServer(smtp.ServerConfig{Hostname: "mx.example.test", Connectors: cfg.ReceiveConnectors,
		Spool: spool, SpoolThreshold: spoolThreshold,
		Routing: routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil),
		Queue:   q, Log: log,
		Checks: func(rc config.ReceiveConnector) ([]smtp.Check, error) {
			if !rc.MessageAuthentication.Enabled() {
				return nil, nil
			}
			c := New(rc.MessageAuthentication, res, log, met)
			c.SetOwnDomains(edgeOwnDomain) // as cmd/umbra sets the accepted domains
			return []smtp.Check{c}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return &edge{addr: s.Addrs()[0].String(), dns: dns, q: q, met: met}
}

// send delivers one message from 127.0.0.2 (e.src) and returns the final reply.
func (e *edge) send(t *testing.T, helo, from, msg string) string {
	t.Helper()
	return e.sendWith(t, helo, from, msg, false)
}

// sendWith sends with DATA, or with one BDAT LAST chunk (RFC 3030).
func (e *edge) sendWith(t *testing.T, helo, from, msg string, bdat bool) string {
	t.Helper()
	src := e.src
	if src == "" {
		src = "127.0.0.2"
	}
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			last = strings.TrimRight(line, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	step := func(cmd, want string) {
		t.Helper()
		fmt.Fprintf(c, "%s\r\n", cmd)
		if got := reply(); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %s", cmd, got)
		}
	}
	if got := reply(); !strings.HasPrefix(got, "220") {
		t.Fatal(got)
	}
	step("EHLO "+helo, "250")
	step("MAIL FROM:<"+from+">", "250")
	step("RCPT TO:<bob@example.test>", "250")
	if bdat {
		fmt.Fprintf(c, "BDAT %d LAST\r\n%s", len(msg), msg)
	} else {
		step("DATA", "354")
		fmt.Fprintf(c, "%s.\r\n", strings.ReplaceAll(msg, "\r\n.", "\r\n.."))
	}
	got := reply()
	fmt.Fprintf(c, "QUIT\r\n")
	return got
}

func message(from, subject string) string {
	return "From: Sender <" + from + ">\r\nTo: bob@example.test\r\nSubject: " + subject +
		"\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <" + subject + "@test>\r\n\r\nhello bob\r\n"
}

// authResults returns umbra's Authentication-Results field of a queued
// message, unfolded, and fails unless there is exactly one.
func authResults(t *testing.T, body string) string {
	t.Helper()
	fields, _ := splitHeader([]byte(body))
	var ours []string
	for _, f := range fields {
		if f.is("Authentication-Results") && authservID(f.value()) == "mx.example.test" {
			ours = append(ours, strings.Join(strings.Fields(f.value()), " "))
		}
	}
	if len(ours) != 1 {
		t.Fatalf("%d Authentication-Results fields of umbra's in\n%s", len(ours), body)
	}
	return ours[0]
}

func wantAll(t *testing.T, ar string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(ar, p) {
			t.Errorf("Authentication-Results lacks %q:\n%s", p, ar)
		}
	}
}

var senderZone = []string{
	`reject.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
	`_dmarc.reject.test. 300 IN TXT "v=DMARC1; p=reject"`,
	`none.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
	`_dmarc.none.test. 300 IN TXT "v=DMARC1; p=none"`,
	`quarantine.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
	`_dmarc.quarantine.test. 300 IN TXT "v=DMARC1; p=quarantine"`,
	`client.test. 300 IN TXT "v=spf1 ip4:127.0.0.2 -all"`,
	`spfok.test. 300 IN TXT "v=spf1 ip4:127.0.0.2 -all"`,
	`_dmarc.spfok.test. 300 IN TXT "v=DMARC1; p=reject"`,
}

// EDGE-1: p=reject with SPF and DKIM failing is refused at the end of
// DATA on the internet connector, with a reply naming DMARC.
func TestDMARCRejectRefusedAtEndOfData(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	got := e.send(t, "client.test", "a@reject.test", message("a@reject.test", "rejected"))
	if !strings.HasPrefix(got, "550 5.7.1") || !strings.Contains(got, "DMARC") || !strings.Contains(got, "reject.test") {
		t.Fatalf("reply %q, want 550 5.7.1 naming DMARC", got)
	}
	if len(e.q.msgs) != 0 {
		t.Fatal("the refused message was queued")
	}
	// The same over BDAT.
	if got := e.sendWith(t, "client.test", "a@reject.test", message("a@reject.test", "bdat"), true); !strings.HasPrefix(got, "550 5.7.1") {
		t.Fatalf("BDAT: %q", got)
	}
	// A forged DKIM signature of the domain does not help either.
	k := edKey(t)
	e.dns.Add(t, zoneTXT("sel._domainkey.reject.test", k.record))
	signed := dkimSign(t, message("a@reject.test", "forged"), "reject.test", "sel", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	tampered := strings.Replace(signed, "hello bob", "pay here", 1)
	if got := e.send(t, "client.test", "a@reject.test", tampered); !strings.HasPrefix(got, "550 5.7.1") {
		t.Fatalf("tampered signed message: %q", got)
	}
	// Without profile: internet the connector checks nothing.
	plainEdge := startEdge(t, "{}", senderZone...)
	if got := plainEdge.send(t, "client.test", "a@reject.test", message("a@reject.test", "unchecked")); !strings.HasPrefix(got, "250") {
		t.Fatalf("connector without checks: %q", got)
	}
	if _, body := plainEdge.q.last(t); strings.Contains(body, "Authentication-Results") {
		t.Errorf("a connector without checks wrote Authentication-Results:\n%s", body)
	}
}

// EDGE-1: the same failure with p=none is accepted, and the header says
// why.
func TestDMARCNoneAcceptedWithResults(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	if got := e.send(t, "client.test", "a@none.test", message("a@none.test", "none")); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	m, body := e.q.last(t)
	if m.Quarantine != "" {
		t.Errorf("quarantined: %s", m.Quarantine)
	}
	ar := authResults(t, body)
	wantAll(t, ar, "mx.example.test;", "spf=fail", "smtp.mailfrom=none.test", "spf=pass smtp.helo=client.test",
		"dkim=none", "dmarc=fail (p=none) header.from=none.test", "arc=none")
	// umbra's Received: comes first, then the results.
	if fields, _ := splitHeader([]byte(body)); len(fields) < 2 || !fields[0].is("Received") || !fields[1].is("Authentication-Results") {
		t.Errorf("Authentication-Results is not at the top:\n%.300s", body)
	}

	for _, c := range []struct{ method, result string }{{"spf", "fail"}, {"helo_spf", "pass"}, {"dkim", "none"}, {"dmarc", "fail"}, {"arc", "none"}} {
		if n := testutil.ToFloat64(e.met.results.WithLabelValues(c.method, c.result)); n != 1 {
			t.Errorf("umbra_msgauth_results_total{method=%q,result=%q} = %v", c.method, c.result, n)
		}
	}

	// p=quarantine: accepted into the quarantine, with its reason.
	if got := e.send(t, "client.test", "a@quarantine.test", message("a@quarantine.test", "q")); !strings.HasPrefix(got, "250") {
		t.Fatalf("p=quarantine: %q", got)
	}
	if m, _ := e.q.last(t); !strings.Contains(m.Quarantine, "DMARC") {
		t.Errorf("p=quarantine message not quarantined: %q", m.Quarantine)
	}
	// An aligned SPF pass is enough for p=reject.
	if got := e.send(t, "client.test", "a@spfok.test", message("a@spfok.test", "spfok")); !strings.HasPrefix(got, "250") {
		t.Fatalf("aligned SPF pass: %q", got)
	}
	_, body = e.q.last(t)
	wantAll(t, authResults(t, body), "spf=pass smtp.mailfrom=spfok.test", "dmarc=pass")
}

// EDGE-1: a properly DKIM-signed message passes dkim and dmarc though
// SPF fails (the signature is aligned with From:), with an RSA key in
// the loopback DNS and relaxed alignment from a subdomain signer.
func TestDKIMSignedPassesDMARC(t *testing.T) {
	ed, rk := edKey(t), rsaKey(t)
	e := startEdge(t, "{profile: internet}", append(senderZone,
		zoneTXT("ed._domainkey.reject.test", ed.record),
		zoneTXT("rsa._domainkey.mail.reject.test", rk.record))...)
	for _, c := range []struct {
		domain, sel string
		k           testKey
	}{{"reject.test", "ed", ed}, {"mail.reject.test", "rsa", rk}} {
		signed := dkimSign(t, message("a@reject.test", "signed-"+c.sel), c.domain, c.sel, c.k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationSimple)
		if got := e.send(t, "client.test", "a@reject.test", signed); !strings.HasPrefix(got, "250") {
			t.Fatalf("%s: reply %q", c.domain, got)
		}
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), "spf=fail", "dkim=pass", "header.d="+c.domain, "header.s="+c.sel, "dmarc=pass (p=reject)")
	}
}

// A forged Authentication-Results claiming umbra's authserv-id is
// removed; one of another server stays.
func TestForgedAuthResultsRemoved(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	forged := "Authentication-Results: mx.example.test; dkim=pass header.d=none.test; dmarc=pass\r\n" +
		"Authentication-Results: (x) MX.Example.Test;\r\n\tspf=pass\r\n" +
		"Authentication-Results: other.test; spf=pass\r\n" + message("a@none.test", "forged")
	if got := e.send(t, "client.test", "a@none.test", forged); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	_, body := e.q.last(t)
	ar := authResults(t, body) // exactly one of umbra's
	wantAll(t, ar, "dmarc=fail")
	if !strings.Contains(body, "Authentication-Results: other.test; spf=pass") {
		t.Errorf("another server's results were removed:\n%s", body)
	}
}

// ARC: a chain sealed by a forwarder passes; a broken one fails; with
// arc: reject a failing chain is refused with 550 5.7.29.
func TestARCChainOverSMTP(t *testing.T) {
	k := edKey(t)
	zone := append(senderZone, zoneTXT("arc._domainkey.lists.test", k.record))
	e := startEdge(t, "{profile: internet}", zone...)
	sealed := arcSeal(t, message("a@none.test", "arc"), "lists.test", "arc", k, "none", "spf=pass smtp.mailfrom=none.test")
	if got := e.send(t, "client.test", "a@none.test", sealed); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "arc=pass (i=1) header.d=lists.test")
	broken := strings.Replace(sealed, "hello bob", "hello eve", 1)
	if got := e.send(t, "client.test", "a@none.test", broken); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	_, body = e.q.last(t)
	wantAll(t, authResults(t, body), "arc=fail (i=1 message signature: body hash does not match)")

	strict := startEdge(t, "{profile: internet, arc: reject}", zone...)
	if got := strict.send(t, "client.test", "a@none.test", broken); !strings.HasPrefix(got, "550 5.7.29") {
		t.Fatalf("arc: reject, broken chain: %q", got)
	}
	if got := strict.send(t, "client.test", "a@none.test", sealed); !strings.HasPrefix(got, "250") {
		t.Fatalf("arc: reject, good chain: %q", got)
	}
}

// DNS failures never pass silently where the policy would refuse:
// 451 4.7.x; where the results are only recorded, temperror is.
func TestTemporaryDNSFailure(t *testing.T) {
	zone := append(senderZone,
		`flaky.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`)
	e := startEdge(t, "{profile: internet}", zone...)
	e.dns.Fail("_dmarc.flaky.test")
	got := e.send(t, "client.test", "a@flaky.test", message("a@flaky.test", "flaky"))
	if !strings.HasPrefix(got, "451 4.7.0") || !strings.Contains(got, "DMARC") {
		t.Fatalf("DMARC policy unreadable: %q", got)
	}
	// p=reject known, SPF unanswerable and no signature: DMARC might
	// have passed had DNS answered.
	e.dns.Fail("spfdown.test")
	e.dns.Add(t, `_dmarc.spfdown-org.test. 300 IN TXT "v=DMARC1; p=reject"`)
	// (the From: domain's policy is found at its organisational domain)
	got = e.send(t, "client.test", "a@spfdown.test", message("a@sub.spfdown-org.test", "spfdown"))
	if !strings.HasPrefix(got, "451 4.7.0") {
		t.Fatalf("SPF temperror under p=reject: %q", got)
	}
	// p=reject, SPF failing, the DKIM key unanswerable: 451, not 550.
	k := edKey(t)
	e.dns.Add(t, zoneTXT("sel._domainkey.reject.test", k.record))
	e.dns.Fail("_domainkey.reject.test")
	signed := dkimSign(t, message("a@reject.test", "keydown"), "reject.test", "sel", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	if got := e.send(t, "client.test", "a@reject.test", signed); !strings.HasPrefix(got, "451 4.7.0") {
		t.Fatalf("DKIM key SERVFAIL under p=reject: %q", got)
	}
	// spf: reject and the SPF record unanswerable: 451 4.7.24.
	spfStrict := startEdge(t, "{profile: internet, spf: reject, dmarc: header}", zone...)
	spfStrict.dns.Fail("spfdown.test")
	if got := spfStrict.send(t, "client.test", "a@spfdown.test", message("a@spfdown.test", "x")); !strings.HasPrefix(got, "451 4.7.24") {
		t.Fatalf("spf: reject, SERVFAIL: %q", got)
	}
	if got := spfStrict.send(t, "client.test", "a@none.test", message("a@none.test", "y")); !strings.HasPrefix(got, "550 5.7.23") {
		t.Fatalf("spf: reject, fail: %q", got)
	}
	// header only: accepted, temperror recorded.
	lax := startEdge(t, "{profile: internet, dmarc: header}", zone...)
	lax.dns.Fail("_dmarc.flaky.test")
	if got := lax.send(t, "client.test", "a@flaky.test", message("a@flaky.test", "lax")); !strings.HasPrefix(got, "250") {
		t.Fatalf("dmarc: header: %q", got)
	}
	_, body := lax.q.last(t)
	wantAll(t, authResults(t, body), "dmarc=temperror")
	// A DKIM key lookup failing is recorded, without the resolver's
	// address.
	lax.dns.Add(t, zoneTXT("sel._domainkey.none.test", k.record))
	lax.dns.Fail("_domainkey.none.test")
	signed = dkimSign(t, message("a@none.test", "laxkey"), "none.test", "sel", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	if got := lax.send(t, "client.test", "a@none.test", signed); !strings.HasPrefix(got, "250") {
		t.Fatalf("dmarc: header, DKIM key SERVFAIL: %q", got)
	}
	_, body = lax.q.last(t)
	wantAll(t, authResults(t, body), "dkim=temperror (dkim: key unavailable: lookup sel._domainkey.none.test: server answered SERVFAIL)")
	if host, _, _ := net.SplitHostPort(lax.dns.Addr); strings.Contains(body, lax.dns.Addr) || strings.Contains(body, host+":") {
		t.Errorf("the resolver's address is in the message:\n%s", body)
	}
}

// RFC 7489 §6.6.1: no single author domain is refused under the policy.
func TestFromDomainRequired(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	two := "From: a@none.test\r\nFrom: b@reject.test\r\n" + message("a@none.test", "two")
	if got := e.send(t, "client.test", "a@none.test", two); !strings.HasPrefix(got, "550 5.7.1") || !strings.Contains(got, "From:") {
		t.Fatalf("two From: fields: %q", got)
	}
	lax := startEdge(t, "{profile: internet, dmarc: header}", senderZone...)
	if got := lax.send(t, "client.test", "a@none.test", two); !strings.HasPrefix(got, "250") {
		t.Fatalf("dmarc: header, two From: fields: %q", got)
	}
	_, body := lax.q.last(t)
	wantAll(t, authResults(t, body), "dmarc=permerror")
}

// rt19 F7: a From: domain with a final dot is the same domain (RFC 1035
// absolute form): its policy applies, a pass passes and a failure is
// refused naming the policy, not "no author domain". An address literal
// names no domain, so there is no DMARC policy to apply (dmarc=none),
// never a refusal. A From: that is refused says exactly why.
func TestFromDomainTrailingDotAndLiteral(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	bare := func(from, subject string) string {
		return strings.Replace(message("x@x.test", subject), "From: Sender <x@x.test>", "From: "+from, 1)
	}
	for _, c := range []struct{ from, mailFrom, want, ar string }{
		{"a@spfok.test.", "a@spfok.test", "250", "dmarc=pass (p=reject) header.from=spfok.test"},
		{"Sender <a@spfok.test.>", "a@spfok.test", "250", "dmarc=pass (p=reject) header.from=spfok.test"},
		{"a@SPFOK.test., b@spfok.test", "a@spfok.test", "250", "dmarc=pass (p=reject) header.from=spfok.test"},
		{"a@reject.test.", "a@reject.test", "550 5.7.1 message refused: DMARC policy of reject.test is reject", ""},
		{"a@[192.0.2.1]", "a@reject.test", "250", "dmarc=none (From: address literal: no DMARC policy)"},
		{"Sender <a@[IPv6:2001:db8::1]>", "a@reject.test", "250", "dmarc=none (From: address literal: no DMARC policy)"},
		{"a@x.test, b@y.test", "a@reject.test", "550 5.7.1 message refused: DMARC needs one author domain in From: (From: addresses of several domains: x.test, y.test)", ""},
		{"a@x..test", "a@reject.test", "550 5.7.1 message refused: DMARC needs one author domain in From: (From: domain 'x..test' is not a domain name)", ""},
	} {
		got := e.send(t, "client.test", c.mailFrom, bare(c.from, "f"+strings.NewReplacer(" ", "", "<", "", ">", "", "@", "-", "[", "", "]", "", ":", "-", ",", "").Replace(c.from)))
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("From: %s: %q, want %q", c.from, got, c.want)
			continue
		}
		if c.ar != "" {
			_, body := e.q.last(t)
			wantAll(t, authResults(t, body), c.ar)
		}
	}
}

// RFC 7489 §10.5 local policy: a mailing list that changed the message
// (DMARC fails here) is trusted when its ARC seal validates and it
// recorded dmarc=pass; otherwise p=reject holds.
func TestTrustedARCSealerLiftsDMARCFailure(t *testing.T) {
	k := edKey(t)
	zone := append(senderZone, zoneTXT("arc._domainkey.lists.test", k.record), zoneTXT("arc._domainkey.other.test", k.record))
	e := startEdge(t, "{profile: internet, trusted_arc_sealers: [lists.test]}", zone...)
	list := func(sealer, dmarc string) string {
		return arcSeal(t, message("a@reject.test", "list-"+sealer+"-"+dmarc), sealer, "arc", k, "none",
			"spf=pass smtp.mailfrom=reject.test; dmarc="+dmarc+" header.from=reject.test")
	}
	if got := e.send(t, "list.lists.test", "list-bounces@lists.test", list("lists.test", "pass")); !strings.HasPrefix(got, "250") {
		t.Fatalf("trusted sealer, dmarc=pass recorded: %q", got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "dmarc=fail (p=reject override: ARC pass sealed by lists.test, which recorded a DMARC pass)", "arc=pass")
	for _, c := range []struct{ name, msg string }{
		{"the sealer recorded dmarc=fail", list("lists.test", "fail")},
		{"an untrusted sealer", list("other.test", "pass")},
		{"a broken chain", strings.Replace(list("lists.test", "pass"), "hello bob", "hello eve", 1)},
		{"the sealer's pass was about another From: domain", arcSeal(t, message("a@reject.test", "list-other-from"), "lists.test", "arc", k, "none",
			"spf=pass smtp.mailfrom=reject.test; dmarc=pass header.from=harmless.test")},
		{"the sealer's pass names no From: domain", arcSeal(t, message("a@reject.test", "list-no-from"), "lists.test", "arc", k, "none",
			"spf=pass smtp.mailfrom=reject.test; dmarc=pass")},
	} {
		if got := e.send(t, "list.lists.test", "list-bounces@lists.test", c.msg); !strings.HasPrefix(got, "550 5.7.1") {
			t.Errorf("%s: %q", c.name, got)
		}
	}
}
