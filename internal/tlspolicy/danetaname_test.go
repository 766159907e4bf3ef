package tlspolicy

import (
	"crypto/ecdsa"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// handshakeWith serves one TLS handshake on 127.0.0.175 (ports 14100-14199)
// with chain and key, and returns the session a client saw of it.
func handshakeWith(t *testing.T, chain [][]byte, key *ecdsa.PrivateKey) tls.ConnectionState {
	t.Helper()
	var ln net.Listener
	var err error
	for p := 14100; p < 14200; p++ {
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.175:%d", p)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: key}}}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		done <- tls.Server(c, cfg).Handshake()
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return c.ConnectionState()
}

// RFC 7672 §3.2.2: under a DANE-TA record the certificate must carry one
// of the reference identifiers (the TLSA base domain, the MX host name,
// the next-hop domain). When it carries none, the deferral names the
// names it was checked for, all of them, and what it is valid for — not
// the MX host in the text and the last name tried in the detail.
func TestDANETANameFailureNamesTheNamesTried(t *testing.T) {
	now := time.Now()
	ca, caKey := cert(t, "Test CA", nil, nil, true, now.Add(time.Hour))
	leaf, leafKey := cert(t, "mx1.good.test", ca, caKey, false, now.Add(time.Hour))
	cs := handshakeWith(t, [][]byte{leaf.Raw, ca.Raw}, leafKey)
	dec := &Decision{Source: SourceDANE, Mode: "dane"}
	verr := VerifyDANE(cs, []*dns.TLSA{tlsa(UsageDANETA, 0, 1, ca)}, []string{"mx.dane7.test", "dane7.test"}, now)
	if verr == nil {
		t.Fatal("a certificate for mx1.good.test passed DANE-TA for mx.dane7.test")
	}
	got := Describe(dec, "mx.dane7.test", verr, nil)
	want := "certificate under the TLSA trust anchor names none of mx.dane7.test, dane7.test (it is valid for mx1.good.test)"
	if got != want {
		t.Errorf("described as\n %q\nwant\n %q", got, want)
	}
	if rt := ResultType(dec, verr); rt != "certificate-host-mismatch" {
		t.Errorf("reported as %q, want certificate-host-mismatch", rt)
	}
	// One name tried (no distinct next-hop domain): said as one.
	verr = VerifyDANE(cs, []*dns.TLSA{tlsa(UsageDANETA, 0, 1, ca)}, []string{"mx.dane7.test"}, now)
	if got, want := Describe(dec, "mx.dane7.test", verr, nil), "certificate under the TLSA trust anchor does not name mx.dane7.test (it is valid for mx1.good.test)"; got != want {
		t.Errorf("described as\n %q\nwant\n %q", got, want)
	}
	// A chain that does not reach the anchor is not a name failure.
	stranger, strangerKey := cert(t, "mx.dane7.test", nil, nil, false, now.Add(time.Hour))
	cs = handshakeWith(t, [][]byte{stranger.Raw}, strangerKey)
	verr = VerifyDANE(cs, []*dns.TLSA{tlsa(UsageDANETA, 0, 1, ca)}, []string{"mx.dane7.test", "dane7.test"}, now)
	if got := Describe(dec, "mx.dane7.test", verr, nil); got != ErrDANEMismatch.Error() {
		t.Errorf("a chain without the anchor described as %q", got)
	}
}
