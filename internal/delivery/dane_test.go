package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// daneWorld is dane.test, a DNSSEC-signed zone served on 127.0.0.30 and
// validated by a real unbound on 127.0.0.31 (the zone's KSK is its trust
// anchor); umbra's resolver trusts unbound's AD bit. Its MX
// mx.dane.test is 127.0.0.2; tlsa are the TLSA records of
// _PORT._tcp.mx.dane.test ("" for none), PORT the one the MX listens on
// (w.port). It also publishes an MTA-STS policy in testing mode, which
// DANE must override.
func daneWorld(t *testing.T, tlsa ...string) (*tlsWorld, *dnstest.SignedZone) {
	t.Helper()
	return daneWorldAt(t, "", tlsa...)
}

// daneWorldAt is daneWorld with the TLSA records at _PORT._tcp.NAME, or
// at _PORT._tcp.mx.dane.test when name is ""; PORT in name is the port
// the MX listens on.
func daneWorldAt(t *testing.T, name string, tlsa ...string) (*tlsWorld, *dnstest.SignedZone) {
	t.Helper()
	port := freePort(t, "127.0.0.2", "127.0.0.3")
	if name == "" {
		name = "_PORT._tcp.mx.dane.test."
	}
	name = strings.ReplaceAll(name, "PORT", fmt.Sprint(port))
	recs := []string{
		"dane.test. 300 IN MX 10 mx.dane.test.",
		"mx.dane.test. 300 IN A 127.0.0.2",
		`_mta-sts.dane.test. 300 IN TXT "v=STSv1; id=1"`,
		"mta-sts.dane.test. 300 IN A 127.0.0.1",
	}
	for _, r := range tlsa {
		recs = append(recs, name+" 300 IN TLSA "+r)
	}
	z := dnstest.StartSigned(t, "127.0.0.30", "dane.test", recs...)
	addr := dnstest.StartUnbound(t, "127.0.0.31", z)
	res, err := resolver.New(resolver.Config{Servers: []string{addr}, TrustAD: true, Timeout: 3 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := newTLSWorldOnPort(t, res, port)
	w.sts.set("dane.test", "version: STSv1\nmode: testing\nmx: mx.dane.test\nmax_age: 86400\n")
	return w, z
}

func spkiSHA256(c tls.Certificate) string {
	s := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(s[:])
}

// DANE-EE: the MX's certificate matches its TLSA record; neither its
// name nor its issuer matters. Delivered over TLS, reported as tlsa.
func TestDANEMatch(t *testing.T) {
	other := newTestCA(t) // an issuer umbra does not trust
	cert := other.issue(t, "some-other-name.example")
	w, _ := daneWorld(t, "3 1 1 "+spkiSHA256(cert))
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, true)
	if !w.eng.MXSecure(context.Background(), "dane.test") {
		t.Fatal("the validated MX RRset is not secure: the AD bit did not flow")
	}
	m := message("a@dane.test")
	m.RequireTLS = true // DANE is verified TLS
	r := w.deliver(m)
	if r.Outcome != queue.RelayedOK {
		t.Fatalf("DANE-EE match: %+v", r)
	}
	if got := mx.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v", got)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "dane.test tlsa mx.dane.test success" {
		t.Errorf("reports %q", got)
	}
}

// DANE-EE mismatch: deferred with 4.7.5, nothing sent — although the
// domain's MTA-STS policy (testing) would have let it through: DANE
// comes first.
func TestDANEMismatch(t *testing.T) {
	cert := newTestCA(t).issue(t, "mx.dane.test")
	w, _ := daneWorld(t, "3 1 1 "+strings.Repeat("ab", 32))
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	r := w.deliver(message("a@dane.test"))
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || !strings.Contains(r.Reply, "dane policy of dane.test: no TLSA record matches the certificate") ||
		strings.Contains(r.Reply, "STARTTLS") {
		t.Fatalf("DANE mismatch: %+v", r)
	}
	if len(mx.received()) != 0 {
		t.Fatal("mail sent to a host whose certificate matches no TLSA record")
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "dane.test tlsa mx.dane.test validation-failure" {
		t.Errorf("reports %q", got)
	}
}

// DANE-TA: the MX's chain holds the CA its TLSA record names, and the
// certificate carries the MX's name; a certificate for another name
// under the same CA fails.
func TestDANETrustAnchor(t *testing.T) {
	ca := newTestCA(t)
	s := sha256.Sum256(ca.cert.Raw)
	w, _ := daneWorld(t, "2 0 1 "+hex.EncodeToString(s[:]))
	good := ca.issue(t, "mx.dane.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &good, false)
	if r := w.deliver(message("a@dane.test")); r.Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("DANE-TA with the right name: %+v", r)
	}
	mx.srv.Close()
	bad := ca.issue(t, "elsewhere.example")
	startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &bad, false)
	m := message("a@dane.test")
	m.ID++
	// The deferral names every name the certificate was checked for
	// (RFC 7672 §3.2.2), not the MX host in its text and the domain in
	// x509's detail (rt44 edge F2).
	if r := w.deliver(m); r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") ||
		!strings.Contains(r.Reply, "dane policy of dane.test: certificate under the TLSA trust anchor names none of mx.dane.test, dane.test (it is valid for elsewhere.example)") {
		t.Fatalf("DANE-TA with another name: %+v", r)
	}
}

// With usable TLSA records TLS is mandatory: an MX without STARTTLS is
// deferred, never sent to in plaintext; a forged (bogus) TLSA answer is
// a lookup failure that defers too.
func TestDANERequiresTLS(t *testing.T) {
	cert := newTestCA(t).issue(t, "mx.dane.test")
	w, _ := daneWorld(t, "3 1 1 "+spkiSHA256(cert))
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), nil, false)
	r := w.deliver(message("a@dane.test"))
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || len(mx.received()) != 0 {
		t.Fatalf("DANE host without STARTTLS: %+v", r)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "dane.test tlsa mx.dane.test starttls-not-supported" {
		t.Errorf("reports %q", got)
	}

	w, z := daneWorld(t, "3 1 1 "+spkiSHA256(cert))
	z.Bogus(fmt.Sprintf("_%d._tcp.mx.dane.test", w.port)) // before unbound has seen it
	mx = startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	r = w.deliver(message("a@dane.test"))
	if r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "TLSA lookup failed") || len(mx.received()) != 0 {
		t.Fatalf("bogus TLSA: %+v", r)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "dane.test tlsa mx.dane.test dnssec-invalid" {
		t.Errorf("reports %q", got)
	}
}

// Secure TLSA records none of which is usable (PKIX-EE, usage 1, is not
// for SMTP: RFC 7672 §3.1.3): TLS is mandatory and unauthenticated; the
// session goes, and is reported as tlsa-invalid (RFC 8460 §4.3.2.2).
func TestDANEUnusableRecordsReported(t *testing.T) {
	cert := newTestCA(t).issue(t, "mx.dane.test")
	w, _ := daneWorld(t, "1 1 1 "+spkiSHA256(cert))
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	if r := w.deliver(message("a@dane.test")); r.Outcome != queue.RelayedOK {
		t.Fatalf("unusable TLSA records: %+v", r)
	}
	if got := mx.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v", got)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "dane.test tlsa mx.dane.test tlsa-invalid" {
		t.Errorf("reports %q", got)
	}
}

// Secure TLSA records that are all malformed — a SHA2-256 digest of 33
// octets, a SHA2-512 one of 32, empty data — are unusable, not records
// nothing matches: TLS mandatory and unauthenticated, the mail goes,
// reported as tlsa-invalid (not deferred with "no TLSA record matches"
// until it bounces).
func TestDANEMalformedRecordsUnusable(t *testing.T) {
	cert := newTestCA(t).issue(t, "mx.dane.test")
	w, _ := daneWorld(t, "3 1 1 "+spkiSHA256(cert)+"00", "3 1 2 "+spkiSHA256(cert), `\# 3 030101`, `\# 3 030100`)
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	if r := w.deliver(message("a@dane.test")); r.Outcome != queue.RelayedOK {
		t.Fatalf("malformed TLSA records only: %+v", r)
	}
	if got := mx.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v", got)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "dane.test tlsa mx.dane.test tlsa-invalid" {
		t.Errorf("reports %q", got)
	}
}

// TLSA records apply to the port the connection goes to (_PORT._tcp,
// RFC 7672 §2.2.2): records at _25._tcp say nothing about an MX reached
// on another port (the send connector's port), so their mismatch does not
// stop the message; at the connection's port they do.
func TestDANETLSAAtTheConnectionsPort(t *testing.T) {
	cert := newTestCA(t).issue(t, "mx.dane.test")
	w, _ := daneWorldAt(t, "_25._tcp.mx.dane.test.", "3 1 1 "+strings.Repeat("ab", 32))
	if w.port == 25 {
		t.Skip("the MX listens on port 25")
	}
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	if r := w.deliver(message("a@dane.test")); r.Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("TLSA at _25 for an MX on port %d: %+v", w.port, r)
	}
	w, _ = daneWorldAt(t, "", "3 1 1 "+strings.Repeat("ab", 32))
	mx = startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	if r := w.deliver(message("a@dane.test")); r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "no TLSA record matches") {
		t.Fatalf("TLSA at the MX's port %d: %+v", w.port, r)
	}
}
