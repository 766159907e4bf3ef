package main

import (
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// SR-3, SR-15: hub-a relays to hub-b through a send connector of its own
// that names hub-b by a host name (hub-b.test, send_xshadow), so hub-a
// keeps its copy for "hub-b.test", not for the server name hub-b. hub-b
// delivers the message during its SIGTERM drain and stays down; its stop
// pushes the discard it owes (XDISCARD) in a session authenticated as
// hub-b that presents its transport database. hub-a applies it to the
// copy it keeps under the host name (the session's server and database
// say who the primary is, not the name form) and takes nothing over.
// Before that, another server of the topology (hub-a's own id, from its
// address) presenting hub-b's database id — learnt by opening one session
// to hub-b — is refused and touches nothing (rt17e-F1): a database id
// only confirms the authenticated server, the copy went to hub-b's
// address.
func TestStopPushReachesPrimaryKnownByHostName(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	r := &recorder{seen: map[string]int{}, bodies: map[string]string{}}
	reached, answer := make(chan struct{}, 1), make(chan struct{})
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &gatedReplySession{slowReplySession{r: r, reached: reached}, answer}, nil
	}))
	srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
	ln := testsupport.Listen(t, p.sink)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	hosts := filepath.Join(p.dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.2 hub-b.test\n"), 0o600)
	_, port, _ := strings.Cut(p.b, ":")
	// The topology's connector from hub-a names hub-b by its host name;
	// hub-a's configuration gives it send_xshadow.
	cfg, _ := os.ReadFile(p.cfgA)
	var topoPath string
	for _, l := range strings.Split(string(cfg), "\n") {
		if v, ok := strings.CutPrefix(l, "topology: "); ok {
			topoPath = v
		}
	}
	topo, _ := os.ReadFile(topoPath)
	// hub-b keeps the topology without it (it routes the message out).
	topoB := filepath.Join(p.dir, "topology-b.yaml")
	os.WriteFile(topoB, topo, 0o600)
	editConfig(t, p.cfgB, "topology: "+topoPath, "topology: "+topoB)
	topo = append(topo, fmt.Sprintf("  - {name: via-b, address_spaces: [{domain: remote.example, cost: 1}], source_servers: [hub-a], smart_hosts: [\"hub-b.test:%s\"]}\n", port)...)
	os.WriteFile(topoPath, topo, 0o600)
	extra := fmt.Sprintf(`dns: {hosts_file: %q}
send_connectors:
  - {name: via-b, address_spaces: [{domain: remote.example, cost: 1}], smart_hosts: ["hub-b.test:%s"], tls: none, send_xshadow: true}
`, hosts, port)
	os.WriteFile(p.cfgA, append(cfg, extra...), 0o600)

	hb := startUmbra(t, p.cfgB, p.b)
	ha := startUmbra(t, p.cfgA, p.a)
	ha.dumpLogIfFailed()
	if reply := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: by-name\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("send: %q", reply)
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		hb.dumpLog()
		t.Fatal("the message never reached the next hop")
	}
	waitCond(t, "hub-a to hold the copy for hub-b.test", 10*time.Second, func() bool { s, _ := p.held(t, p.cfgA, "hub-b.test"); return s == 1 })
	talk := func(addr string, lines ...string) []string {
		c, err := textproto.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out []string
		if _, _, err := c.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			id, _ := c.Cmd("%s", l)
			c.StartResponse(id)
			code, msg, _ := c.ReadResponse(0)
			c.EndResponse(id)
			out = append(out, fmt.Sprintf("%d %s", code, msg))
		}
		return out
	}
	got := talk(p.b, "EHLO hub-a.test", "XSHADOW hub-a")
	dbB := strings.TrimPrefix(got[1], "250 ")
	if !strings.HasPrefix(got[1], "250 ") || dbB == "" || strings.Contains(dbB, " ") {
		t.Fatalf("hub-b's XSHADOW reply %q", got[1])
	}
	got = talk(p.a, "EHLO hub-a.test", "XSHADOW hub-a MARK DB="+dbB, "XDISCARD "+dbB+"-1", "QUIT")
	if !strings.HasPrefix(got[1], "550 5.7.1") || !strings.Contains(got[1], "another server's") {
		ha.dumpLog()
		t.Fatalf("hub-a's id presenting hub-b's database %s: %q; want 550 5.7.1, another server's", dbB, got[1])
	}
	if !strings.HasPrefix(got[2], "503") {
		t.Fatalf("XDISCARD after the refused XSHADOW: %q", got[2])
	}
	if s, _ := p.held(t, p.cfgA, "hub-b.test"); s != 1 {
		t.Fatalf("hub-a holds %d copies for hub-b.test after another's id presented hub-b's database; want 1", s)
	}
	hb.cmd.Process.Signal(syscall.SIGTERM)
	waitLogCount(t, hb, "draining:", 1) // the answer comes in the drain (a 500 ms sleep could end before it began)
	close(answer)
	select {
	case <-hb.done:
		hb.done <- nil
	case <-time.After(60 * time.Second):
		hb.dumpLog()
		t.Fatal("hub-b did not stop after SIGTERM")
	}
	// Once hub-a holds the copy no longer nothing is left to take over;
	// a copy taken over instead shows in the count below (a fixed 6 s
	// sleep and one read failed a slow machine's discard).
	waitHeldGone(t, hb, "hub-a to drop its copy for hub-b.test after hub-b pushed its discard",
		func() (int, int) { return p.held(t, p.cfgA, "hub-b.test") })
	if n := r.counts()["by-name"]; n != 1 {
		t.Fatalf("the next hop got the message %d times, want once", n)
	}
}
