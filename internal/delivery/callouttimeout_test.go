package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/recipients"
)

// rcptHangHost answers the greeting, EHLO and MAIL, then never answers
// RCPT: a next hop slow at the one step the callout waits for.
func rcptHangHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.178:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				c.Write([]byte("220 slow.test ESMTP\r\n"))
				for i := 0; i < 20; i++ { // bounded
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(line); {
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte("250 slow.test\r\n"))
					case strings.HasPrefix(cmd, "MAIL"):
						c.Write([]byte("250 ok\r\n"))
					case strings.HasPrefix(cmd, "RCPT"):
						<-done // never answered
						return
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// rt19 fixc F4 (SMTP-6): a callout cut off by recipients.callout.timeout
// says so in words, never "RCPT TO answered <an I/O error>": the operator
// tells a slow next hop from a broken connection.
func TestCalloutTimeoutSaidInWords(t *testing.T) {
	host := rcptHangHost(t)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
		AddressSpaces: []config.AddressSpace{{Domain: "relay.test", Cost: 1}}, SmartHosts: []string{host}, TLS: config.TLSNone})
	c := recipients.NewCallout(recipients.CalloutConfig{Verifier: d, Cache: nopCache{}, Timeout: time.Second})
	v, err := c.Lookup(context.Background(), "alice@relay.test")
	if v != recipients.CannotDecide || err == nil {
		t.Fatalf("a next hop that never answers RCPT: %v %v", v, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "timed out after 1s") || strings.Contains(msg, "answered") || strings.Contains(msg, "closed network connection") {
		t.Fatalf("error %q, want the timeout in words", msg)
	}
}

// mendx19 item 5: the callout owns the words for a probe cut off by a
// context: its own timeout (above), or the caller's shorter deadline,
// said as the caller's with its cause — never as the error the closed
// connection gave the step, nor as the callout's timeout.
func TestCalloutCutByCallerSaidInWords(t *testing.T) {
	host := rcptHangHost(t)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
		AddressSpaces: []config.AddressSpace{{Domain: "relay.test", Cost: 1}}, SmartHosts: []string{host}, TLS: config.TLSNone})
	c := recipients.NewCallout(recipients.CalloutConfig{Verifier: d, Cache: nopCache{}, Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	v, err := c.Lookup(ctx, "alice@relay.test")
	if v != recipients.CannotDecide || err == nil {
		t.Fatalf("a next hop that never answers RCPT, the caller's deadline first: %v %v", v, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "recipient callout cut off by the caller") || !strings.Contains(msg, "deadline exceeded") ||
		strings.Contains(msg, "recipients.callout.timeout") || strings.Contains(msg, "closed network connection") {
		t.Fatalf("error %q, want the caller's cut in words", msg)
	}
}
