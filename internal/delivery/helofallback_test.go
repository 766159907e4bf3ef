package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// oldHost is a next hop that does not know EHLO: it answers EHLO with
// ehlo, HELO with helo, and takes a message whatever it is given. It
// keeps the commands it was sent.
type oldHost struct {
	addr string
	mu   sync.Mutex
	cmds []string
}

func (h *oldHost) commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.cmds...)
}

func startOldHost(t *testing.T, addr, ehlo, helo string) *oldHost {
	t.Helper()
	return startOldHostTLS(t, addr, ehlo, helo, nil)
}

// startOldHostTLS is startOldHost offering STARTTLS with tlsCfg (when
// set): its first EHLO is taken (250 STARTTLS), and ehlo answers the
// EHLO sent again over TLS.
func startOldHostTLS(t *testing.T, addr, ehlo, helo string, tlsCfg *tls.Config) *oldHost {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := &oldHost{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { c.Close() }()
				c.Write([]byte("220 old.example SMTP\r\n"))
				r := bufio.NewReader(c)
				plain := tlsCfg != nil // the first EHLO, before STARTTLS
				for range 50 {         // bounded
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
					h.mu.Lock()
					h.cmds = append(h.cmds, strings.TrimRight(line, "\r\n"))
					h.mu.Unlock()
					switch {
					case strings.HasPrefix(cmd, "EHLO") && plain:
						c.Write([]byte("250-old.example\r\n250 STARTTLS\r\n"))
					case cmd == "STARTTLS" && plain:
						c.Write([]byte("220 2.0.0 ready\r\n"))
						tc := tls.Server(c, tlsCfg)
						if tc.Handshake() != nil {
							return
						}
						c, r, plain = tc, bufio.NewReader(tc), false
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte(ehlo + "\r\n"))
					case strings.HasPrefix(cmd, "HELO"):
						c.Write([]byte(helo + "\r\n"))
					case cmd == "DATA":
						c.Write([]byte("354 go ahead\r\n"))
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						c.Write([]byte("250 2.0.0 taken\r\n"))
					case cmd == "QUIT":
						c.Write([]byte("221 2.0.0 bye\r\n"))
						return
					default:
						c.Write([]byte("250 2.0.0 ok\r\n"))
					}
				}
			}()
		}
	}()
	return h
}

// rt16b-F2: a next hop that refuses EHLO (500, 501, 502, 504, 550: RFC
// 5321 §4.1.4) is greeted again with HELO on the same connection and
// takes the message without extensions (no STARTTLS offered: the
// connector's opportunistic TLS goes plaintext). SMTP-.
func TestEHLORefusedFallsBackToHELO(t *testing.T) {
	for _, refusal := range []string{"500 5.5.1 command unrecognized", "501 5.5.4 syntax", "502 5.5.1 not implemented",
		"504 5.5.2 not supported", "550 5.5.1 no EHLO here"} {
		t.Run(refusal[:3], func(t *testing.T) {
			h := startOldHost(t, "127.0.0.2:0", refusal, "250 old.example")
			dns := &fakeDNS{mx: map[string][]*net.MX{"old.example": {{Host: "mx.old.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.old.example": {"127.0.0.2"}}}
			sc := mxConnector(portOf(h.addr))
			sc.TLS = config.TLSOpportunistic
			d := newDeliverer(t, dns, config.Mailbox{}, sc)
			m := message("x@old.example")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
				t.Fatalf("results: %+v\ncommands: %q", res, h.commands())
			}
			cmds := h.commands()
			if len(cmds) < 3 || !strings.HasPrefix(cmds[0], "EHLO ") || cmds[1] != "HELO umbra.test" ||
				!strings.HasPrefix(cmds[2], "MAIL FROM:<") || strings.Contains(cmds[2], "=") {
				t.Fatalf("commands: %q", cmds)
			}
		})
	}
}

// Only when HELO is refused too does the opening refusal rule apply: a
// 5xx, and no other host, fails the recipient quoting the host's reply.
// A connector that requires TLS fails that host as before (no STARTTLS
// without EHLO), the EHLO reply quoted.
func TestEHLOAndHELORefused(t *testing.T) {
	h := startOldHost(t, "127.0.0.2:0", "500 5.5.1 command unrecognized", "550 5.7.1 go away")
	dns := &fakeDNS{mx: map[string][]*net.MX{"old.example": {{Host: "mx.old.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.old.example": {"127.0.0.2"}}}
	sc := mxConnector(portOf(h.addr))
	sc.TLS = config.TLSOpportunistic
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	m := message("x@old.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.Contains(res[0].Reply, "550 5.7.1 go away") {
		t.Fatalf("results: %+v\ncommands: %q", res, h.commands())
	}

	h2 := startOldHost(t, "127.0.0.3:0", "500 5.5.1 command unrecognized", "250 old.example")
	dns.hosts["mx.old.example"] = []string{"127.0.0.3"}
	sc = mxConnector(portOf(h2.addr))
	sc.TLS = config.TLSRequired
	d = newDeliverer(t, dns, config.Mailbox{}, sc)
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.7.5 ") ||
		!strings.Contains(res[0].Reply, "500 5.5.1 command unrecognized") {
		t.Fatalf("TLS required: results: %+v\ncommands: %q", res, h2.commands())
	}
	t.Logf("TLS required: %s", res[0].Reply)
	for _, c := range h2.commands() {
		if strings.HasPrefix(c, "MAIL") {
			t.Fatalf("a message went in plaintext where TLS is required: %q", h2.commands())
		}
	}
}

// A smart host that needs a login and refuses EHLO offers no AUTH after
// HELO: the host fails for now as a refused login does, the EHLO
// refusal quoted; nothing is sent.
func TestEHLORefusedNoAuth(t *testing.T) {
	h := startOldHost(t, "127.0.0.2:0", "502 5.5.1 EHLO not implemented", "250 old.example")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := config.SendConnector{Name: "smarthost", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{h.addr}, TLS: config.TLSOpportunistic,
		Auth: config.SendAuth{Username: "umbra", PasswordFile: pwFile}}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	m := message("x@old.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.7.0 authentication to ") ||
		!strings.Contains(res[0].Reply, "EHLO refused (502 5.5.1 EHLO not implemented)") {
		t.Fatalf("results: %+v\ncommands: %q", res, h.commands())
	}
	for _, c := range h.commands() {
		if strings.HasPrefix(c, "MAIL") || strings.HasPrefix(c, "AUTH") {
			t.Fatalf("sent without the login: %q", h.commands())
		}
	}
}

// rt16b-F2 after STARTTLS: a next hop that offers STARTTLS and then
// refuses the EHLO sent again over TLS (RFC 3207 §4.2) by a reply of
// the first EHLO's fallback rule (500, 501, 502, 504, 550) is greeted
// with HELO on the TLS connection and takes the message without
// extensions: TLS is up, so a connector that requires TLS is satisfied.
// Any other refusal is the opening's refusal, as for the first EHLO: no
// HELO, no message. SMTP-, TLS-.
func TestEHLORefusedAfterSTARTTLSFallsBackToHELO(t *testing.T) {
	certPEM, keyPEM, _ := selfSigned(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	for _, c := range []struct {
		refusal string
		want    queue.Outcome
	}{
		{"502 5.5.1 not implemented", queue.RelayedOK},
		{"550 5.5.1 no EHLO here", queue.RelayedOK},
		{"451 4.3.0 try later", queue.Deferred},
	} {
		t.Run(c.refusal[:3], func(t *testing.T) {
			h := startOldHostTLS(t, "127.0.0.2:0", c.refusal, "250 old.example", tlsCfg)
			dns := &fakeDNS{mx: map[string][]*net.MX{"old.example": {{Host: "mx.old.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.old.example": {"127.0.0.2"}}}
			sc := mxConnector(portOf(h.addr))
			sc.TLS = config.TLSRequired
			d := newDeliverer(t, dns, config.Mailbox{}, sc)
			m := message("x@old.example")
			res := d.Deliver(context.Background(), m, body, all(m))
			cmds := h.commands()
			if len(res) != 1 || res[0].Outcome != c.want {
				t.Fatalf("results: %+v, want %v\ncommands: %q", res, c.want, cmds)
			}
			if c.want != queue.RelayedOK {
				if !strings.Contains(res[0].Reply, c.refusal) {
					t.Errorf("reply %q does not quote %q", res[0].Reply, c.refusal)
				}
				for _, cmd := range cmds {
					if strings.HasPrefix(cmd, "HELO") || strings.HasPrefix(cmd, "MAIL") {
						t.Fatalf("commands: %q, want none after the refused EHLO", cmds)
					}
				}
				return
			}
			if len(cmds) < 5 || !strings.HasPrefix(cmds[0], "EHLO ") || cmds[1] != "STARTTLS" ||
				!strings.HasPrefix(cmds[2], "EHLO ") || cmds[3] != "HELO umbra.test" ||
				!strings.HasPrefix(cmds[4], "MAIL FROM:<") || strings.Contains(cmds[4], "=") {
				t.Fatalf("commands: %q", cmds)
			}
		})
	}
}
