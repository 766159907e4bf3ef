package delivery

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// startRawMX is an MX on addr that offers STARTTLS and then answers it
// with starttls: a reply line (a refusal such as 454), or "" to accept
// with 220 and drop the connection (a reset in the handshake).
func startRawMX(t *testing.T, addr, starttls string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				fmt.Fprint(c, "220 raw.test ESMTP\r\n")
				for range 20 {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
					case "EHLO":
						fmt.Fprint(c, "250-raw.test\r\n250 STARTTLS\r\n")
					case "STARTTLS":
						if starttls == "" {
							fmt.Fprint(c, "220 go ahead\r\n")
							return
						}
						fmt.Fprint(c, starttls+"\r\n")
					case "QUIT":
						fmt.Fprint(c, "221 bye\r\n")
						return
					default:
						fmt.Fprint(c, "503 5.5.1 no\r\n")
					}
				}
			}(c)
		}
	}()
}

// Each cause of a TLS failure under a policy is named as what it is, in
// the reply (which reaches DSNs, logs and message tracking), and counted
// under its RFC 8460 result type — never "STARTTLS unavailable" for a
// certificate that did not verify.
func TestTLSFailureCausesNamed(t *testing.T) {
	const policy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmax_age: 604800\r\n"
	for _, c := range []struct {
		name   string
		mx     func(w *tlsWorld, addr string)
		clock  time.Duration
		text   string
		result string
	}{
		{"no STARTTLS", func(w *tlsWorld, addr string) { startMX(t, addr, nil, false) }, 0,
			"STARTTLS not offered", "starttls-not-supported"},
		{"STARTTLS refused", func(w *tlsWorld, addr string) { startRawMX(t, addr, "454 4.7.0 TLS not available") }, 0,
			"STARTTLS refused: 454 4.7.0 TLS not available", "starttls-not-supported"},
		{"handshake reset", func(w *tlsWorld, addr string) { startRawMX(t, addr, "") }, 0,
			"TLS handshake failed", "validation-failure"},
		{"name mismatch", func(w *tlsWorld, addr string) { c := w.ca.issue(t, "other.sts.test"); startMX(t, addr, &c, false) }, 0,
			"certificate does not match the policy's MX name mx1.sts.test", "certificate-host-mismatch"},
		{"untrusted", func(w *tlsWorld, addr string) {
			c := newTestCA(t).issue(t, "mx1.sts.test")
			startMX(t, addr, &c, false)
		}, 0,
			"certificate not trusted", "certificate-not-trusted"},
		{"expired", func(w *tlsWorld, addr string) { c := w.ca.issue(t, "mx1.sts.test"); startMX(t, addr, &c, false) }, 48 * time.Hour,
			"certificate expired", "certificate-expired"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newTLSWorld(t, strings.Split(stsRecords, "\n")...)
			w.sts.set("sts.test", policy)
			c.mx(w, fmt.Sprintf("127.0.0.2:%d", w.port))
			w.clk.Advance(c.clock) // the test certificates are valid for 24 hours
			r := w.deliver(message("a@sts.test"))
			if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || !strings.Contains(r.Reply, c.text) ||
				strings.Contains(r.Reply, "STARTTLS unavailable") {
				t.Fatalf("reply %+v, want 451 4.7.5 ... %q", r, c.text)
			}
			if got := w.rep.list(); len(got) != 1 || got[0] != "sts.test sts mx1.sts.test "+c.result {
				t.Fatalf("reports %q, want %s", got, c.result)
			}
		})
	}
}

// REQUIRETLS and a TLS failure that may pass (STARTTLS refused with 454,
// a reset, a certificate that does not verify, a policy that could not
// be fetched yet): deferred (4.7.5) and retried on the schedule, never
// failed at the first attempt; nothing sent. A domain without any policy
// fails at once (TestRequireTLSRefusal).
func TestRequireTLSTransientFailuresDefer(t *testing.T) {
	const policy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmax_age: 604800\r\n"
	for _, c := range []struct {
		name string
		mx   func(w *tlsWorld, addr string)
		text string
	}{
		{"STARTTLS refused", func(w *tlsWorld, addr string) { startRawMX(t, addr, "454 4.7.0 TLS not available") }, "STARTTLS refused"},
		{"handshake reset", func(w *tlsWorld, addr string) { startRawMX(t, addr, "") }, "TLS handshake failed"},
		{"name mismatch", func(w *tlsWorld, addr string) {
			c := w.ca.issue(t, "other.sts.test")
			startMX(t, addr, &c, true)
		}, "certificate does not match"},
		{"policy not fetched", func(w *tlsWorld, addr string) {
			w.sts.set("sts.test", "") // served empty: no valid policy
			c := w.ca.issue(t, "mx1.sts.test")
			startMX(t, addr, &c, true)
		}, "could not be fetched"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newTLSWorld(t, strings.Split(stsRecords, "\n")...)
			w.sts.set("sts.test", policy)
			c.mx(w, fmt.Sprintf("127.0.0.2:%d", w.port))
			m := message("a@sts.test")
			m.RequireTLS = true
			r := w.deliver(m)
			if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 REQUIRETLS") || !strings.Contains(r.Reply, c.text) {
				t.Fatalf("reply %+v, want a deferral naming %q", r, c.text)
			}
		})
	}
}

// A REQUIRETLS message's DSN (null sender, REQUIRETLS) goes over
// verified TLS, but a hop that does not advertise REQUIRETLS does not
// stop it (RFC 8689 §5); an ordinary REQUIRETLS message it stops.
func TestRequireTLSBounceNotStoppedByHop(t *testing.T) {
	w := stsWorld(t, "enforce")
	good := w.ca.issue(t, "mx1.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &good, false)
	m := message("a@sts.test")
	m.From, m.RequireTLS = "", true
	if r := w.deliver(m); r.Outcome != queue.RelayedOK {
		t.Fatalf("REQUIRETLS bounce: %+v", r)
	}
	if got := mx.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v", got)
	}
}
