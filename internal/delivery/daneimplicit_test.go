package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// daneWorldRecords is daneWorld with the zone's records given (PORT in
// them is the port the hosts listen on, on 127.0.0.2).
func daneWorldRecords(t *testing.T, recs ...string) *tlsWorld {
	t.Helper()
	port := freePort(t, "127.0.0.2", "127.0.0.3")
	for i := range recs {
		recs[i] = strings.ReplaceAll(recs[i], "PORT", fmt.Sprint(port))
	}
	z := dnstest.StartSigned(t, "127.0.0.30", "dane.test", recs...)
	addr := dnstest.StartUnbound(t, "127.0.0.31", z)
	res, err := resolver.New(resolver.Config{Servers: []string{addr}, TrustAD: true, Timeout: 3 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return newTLSWorldOnPort(t, res, port)
}

// A domain with no MX record is its own host (implicit MX, RFC 5321
// §5.1); when the denial of its MX and its address records are
// DNSSEC-validated, its TLSA records apply as an MX host's do (RFC 7672
// §2.2.2; rt18a F1): a certificate they do not match, or a host without
// STARTTLS, defers; the matching one delivers, verified (REQUIRETLS
// goes), reported under tlsa. Through a secure CNAME the expanded name
// is the TLSA base.
func TestDANEImplicitMX(t *testing.T) {
	good := newTestCA(t).issue(t, "whatever.example")
	bad := newTestCA(t).issue(t, "im.dane.test")
	w := daneWorldRecords(t,
		"im.dane.test. 300 IN A 127.0.0.2",
		"_PORT._tcp.im.dane.test. 300 IN TLSA 3 1 1 "+spkiSHA256(good),
		"al.dane.test. 300 IN CNAME im.dane.test.")
	if !w.eng.MXSecure(context.Background(), "im.dane.test") {
		t.Fatal("a validated MX denial with validated address records is not secure for DANE")
	}
	ex := w.eng.Explain(context.Background(), "im.dane.test", "opportunistic", w.port)
	if !ex.MXSecure || !ex.ImplicitMX || len(ex.Hosts) != 1 || ex.Hosts[0].Source != "dane" || !strings.Contains(ex.Hosts[0].Effect, "must match a TLSA record") {
		t.Fatalf("route explain of an implicit MX under DANE: %+v", ex)
	}
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &bad, false)
	r := w.deliver(message("a@im.dane.test"))
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || !strings.Contains(r.Reply, "no TLSA record matches") {
		t.Fatalf("implicit MX, certificate the TLSA record does not match: %+v", r)
	}
	if len(mx.received()) != 0 {
		t.Fatal("mail sent to a host whose certificate matches no TLSA record")
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "im.dane.test tlsa im.dane.test validation-failure" {
		t.Errorf("reports %q", got)
	}
	mx.srv.Close()

	mx = startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), nil, false)
	m := message("a@im.dane.test")
	m.ID++
	if r := w.deliver(m); r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || len(mx.received()) != 0 {
		t.Fatalf("implicit MX under DANE without STARTTLS: %+v", r)
	}
	mx.srv.Close()

	mx = startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &good, true)
	for i, rcpt := range []string{"a@im.dane.test", "b@al.dane.test"} {
		m := message(rcpt)
		m.ID += queue.ID(10 + i)
		m.RequireTLS = true // DANE is verified TLS
		if r := w.deliver(m); r.Outcome != queue.RelayedOK {
			t.Fatalf("%s: implicit MX, matching certificate, REQUIRETLS: %+v", rcpt, r)
		}
	}
	if got := mx.received(); len(got) != 2 || !got[0].tls || !got[1].tls {
		t.Fatalf("received %+v", got)
	}
}

// REQUIRETLS to a host whose secure TLSA records are all unusable, or
// whose TLSA lookup failed in a signed zone: the domain publishes DANE
// and may fix it, so the message is deferred, never failed at once
// (rt18a F2), and the deferral says REQUIRETLS like every other one, so
// that expiry fails it 550 5.7.10, not 5.4.7 (rt18a F3; queue's expiry
// rule looks for "REQUIRETLS: " in the last reply).
func TestRequireTLSDANEUnusableOrFailedDefers(t *testing.T) {
	cert := newTestCA(t).issue(t, "mx.dane.test")
	for _, recs := range [][]string{{"4 1 1 " + spkiSHA256(cert)}, {"3 1 1 0102030405", "3 1 0 deadbeef"}} {
		w, _ := daneWorld(t, recs...)
		mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, true)
		m := message("a@dane.test")
		m.RequireTLS = true
		r := w.deliver(m)
		if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 REQUIRETLS: ") || !strings.Contains(r.Reply, "usable") {
			t.Fatalf("REQUIRETLS, TLSA records %q all unusable: %+v", recs, r)
		}
		if len(mx.received()) != 0 {
			t.Fatal("REQUIRETLS mail sent over unauthenticated TLS")
		}
		mx.srv.Close()
	}

	w, z := daneWorld(t, "3 1 1 "+spkiSHA256(cert))
	z.Bogus(fmt.Sprintf("_%d._tcp.mx.dane.test", w.port))
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, true)
	m := message("a@dane.test")
	m.RequireTLS = true
	r := w.deliver(m)
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 REQUIRETLS: ") || !strings.Contains(r.Reply, "TLSA lookup failed") {
		t.Fatalf("REQUIRETLS, TLSA lookup failed: %+v", r)
	}
	if len(mx.received()) != 0 {
		t.Fatal("REQUIRETLS mail sent without its host's TLSA records")
	}
}

// A domain that does not exist (NXDOMAIN) is tried as its own host by
// delivery, as a domain without MX records is (RFC 5321 §5.1), and fails
// for good: route explain says the same from the same reading of the MX
// answer — the domain is its own host (implicit MX), not under DANE (no
// validated NODATA), and the reply delivery gives (review of fixa18).
func TestExplainAgreesWithDeliveryForNXDOMAIN(t *testing.T) {
	w := newTLSWorld(t, strings.Split(stsRecords, "\n")...)
	ex := w.eng.Explain(context.Background(), "gone.sts.test", "opportunistic", w.port)
	r := w.deliver(message("a@gone.sts.test"))
	if r.Outcome != queue.FailedPerm {
		t.Fatalf("delivery to a domain that does not exist: %+v", r)
	}
	if !ex.ImplicitMX || ex.MXSecure || len(ex.Hosts) != 1 || ex.Hosts[0].MX != "gone.sts.test" {
		t.Errorf("route explain of a domain that does not exist: implicit %v, secure %v, hosts %+v", ex.ImplicitMX, ex.MXSecure, ex.Hosts)
	}
	if !ex.NoAddressPermanent || ex.NoAddress != r.Reply {
		t.Errorf("route explain says %q (permanent %v), delivery %q", ex.NoAddress, ex.NoAddressPermanent, r.Reply)
	}
}
