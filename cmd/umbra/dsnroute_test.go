package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
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
	ln := testsupport.Listen(t, addr)
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

// rt56 F1: recipients whose paths part at site b travel as one copy to
// b's hub (delayed fan-out); with that hub down, the recipient of site c
// — whose own route goes straight to hub-c, which answers — must not
// wait for it: once hub-b has failed, the copy splits at the origin and
// the site-c recipient is delivered, while the site-b one waits for its
// hub. Before, both waited in site:b until they expired.
func TestDaemonFanOutSplitsWhenTheForkHubIsDown(t *testing.T) {
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.4")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
  - {name: c}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
  - {name: b-c, sites: [b, c], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.2]}
  - {name: hub-c, role: hub, site: c, address: %q, source_addresses: [127.0.0.1, 127.0.0.4]}
send_connectors:
  - {name: tob, address_spaces: [{domain: b.test, cost: 1}], source_servers: [hub-b], smart_hosts: [%q]}
  - {name: toc, address_spaces: [{domain: c.test, cost: 1}], source_servers: [hub-c], smart_hosts: [%q]}
`, a, b, c, sinkAddr, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(umbraBin, "route", "explain", "--topology", topoPath, "--server", "hub-a", "y@b.test", "y@c.test").Output(); err != nil ||
		!strings.Contains(string(out), "forks at site b") {
		t.Fatalf("the two recipients should travel as one copy to site b: %v\n%s", err, out)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	sink := startRefusingSink(t, sinkAddr)
	hubA := startUmbra(t, cfgA, a)
	startUmbra(t, cfgC, c)

	if r := rawSend(t, a, "s@example.org", []string{"y@b.test", "y@c.test"}, "Subject: f1\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sink.to("y@c.test")) == 0 {
		if time.Now().After(deadline) {
			out, _ := cli(t, cfgA, "message", "list")
			hubA.dumpLog()
			t.Fatalf("y@c.test never left hub-a while hub-b is down; hub-a's queue:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := sink.to("y@c.test")[0]; !strings.Contains(got, "by hub-c (umbra)") || strings.Contains(got, "by hub-b") {
		t.Errorf("y@c.test should have gone straight to hub-c:\n%s", got)
	}
	if n := len(sink.to("y@b.test")); n != 0 {
		t.Errorf("y@b.test delivered %d times with its hub down", n)
	}
	out, _ := cli(t, cfgA, "message", "list")
	if !strings.Contains(out, "y@b.test") || !strings.Contains(out, "site:b") {
		t.Errorf("y@b.test should wait at hub-a for site b:\n%s", out)
	}
}
