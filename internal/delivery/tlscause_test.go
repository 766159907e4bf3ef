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
