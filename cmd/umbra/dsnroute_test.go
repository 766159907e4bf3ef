package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// refusingSink is a real SMTP server that refuses the recipients it is
// given with 550 5.1.1 and records every other delivery by recipient.
type refusingSink struct {
	mu      sync.Mutex
	refuse  map[string]bool
	got     map[string][]string // recipient -> messages delivered to it
	srv     *gosmtp.Server
	refused int
}

func startRefusingSink(t *testing.T, addr string, refuse ...string) *refusingSink {
	t.Helper()
	s := &refusingSink{refuse: map[string]bool{}, got: map[string][]string{}}
	for _, r := range refuse {
		s.refuse[r] = true
	}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &refusingSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = nopLog{}
	release(addr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *refusingSink) to(rcpt string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got[rcpt]...)
}

type refusingSession struct {
	s     *refusingSink
	rcpts []string
}

func (x *refusingSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (x *refusingSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if x.s.refuse[to] {
		x.s.mu.Lock()
		x.s.refused++
		x.s.mu.Unlock()
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	x.rcpts = append(x.rcpts, to)
	return nil
}
func (x *refusingSession) Reset()        { x.rcpts = nil }
func (x *refusingSession) Logout() error { return nil }
func (x *refusingSession) Data(rd io.Reader) error {
	b, _ := io.ReadAll(rd)
	x.s.mu.Lock()
	for _, r := range x.rcpts {
		x.s.got[r] = append(x.s.got[r], string(b))
	}
	x.s.mu.Unlock()
	return nil
}

// rt56 F6: a failure DSN that hub-b makes for mail hub-a1 relayed to it
// carries hub-a1's shadow copy (it owes the discard), but it did not
// come from hub-a1: hub-b made it. Its way back to the sender's site
// must take hub-a1 like any new message while the site's other hub
// (hub-a2, down for maintenance) does not answer; before, the DSN was
// routed to hub-a2 only, retried until it expired, and was lost.
func TestDaemonDSNNotPinnedAwayFromShadowServer(t *testing.T) {
	dir := t.TempDir()
	a1, a2, b := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.3"), freeAddr(t, "127.0.0.2")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a1, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-a2, role: hub, site: a, address: %q, source_addresses: [127.0.0.3]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1, 127.0.0.2]}
send_connectors:
  - {name: fail, address_spaces: [{domain: fail.test, cost: 1}], source_servers: [hub-b], smart_hosts: [%q]}
  - {name: back, address_spaces: [{domain: back.test, cost: 1}], source_servers: [hub-a1, hub-a2], smart_hosts: [%q]}
`, a1, a2, b, sinkAddr, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA1, _ := orgHub(t, dir, "hub-a1", a1, topoPath, "0s", "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	sink := startRefusingSink(t, sinkAddr, "nobody@fail.test")
	hubA1 := startUmbra(t, cfgA1, a1)
	hubB := startUmbra(t, cfgB, b)

	if r := rawSend(t, a1, "sender@back.test", []string{"nobody@fail.test"}, "Subject: f6\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sink.to("sender@back.test")) == 0 {
		if time.Now().After(deadline) {
			out, _ := cli(t, cfgB, "message", "list")
			hubB.dumpLog()
			hubA1.dumpLog()
			t.Fatalf("the failure DSN never reached the sender's site through hub-a1 (refused %d); hub-b's queue:\n%s", sink.refused, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	dsn := sink.to("sender@back.test")[0]
	if !strings.Contains(dsn, "nobody@fail.test") || !strings.Contains(dsn, "by hub-a1 (umbra)") {
		t.Errorf("the DSN that arrived:\n%s", dsn)
	}
}
