package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certReceiptHubs is newReceiptHubs with the hubs logging in to each
// other by client certificate of the organisation's CA (a receive
// connector with tls.client_ca_file, not externally secured), on
// 127.0.0.190 and 127.0.0.191; both send from 127.0.0.1 (the topology's
// source_addresses). It returns the hubs and hub-b's certificate.
func certReceiptHubs(t *testing.T, pref string, reject bool) (*receiptHubs, tls.Certificate) {
	t.Helper()
	return certReceiptHubsAt(t, "127.0.0.190", "127.0.0.191", pref, reject)
}

// certReceiptHubsAt is certReceiptHubs with hub-a on ipA and hub-b on ipB.
func certReceiptHubsAt(t *testing.T, ipA, ipB, pref string, reject bool) (*receiptHubs, tls.Certificate) {
	t.Helper()
	o := &receiptHubs{dir: t.TempDir(), a: freeAddr(t, ipA), b: freeAddr(t, ipB), sink: reserveAddr(t, "127.0.0.1")}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt(pref, reject), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoPath, "0s", "")
	ca := newTestCA(t, o.dir)
	var certB tls.Certificate
	for _, h := range []struct{ name, cfg string }{{"hub-a", o.cfgA}, {"hub-b", o.cfgB}} {
		c := ca.issue(t, h.name)
		if h.name == "hub-b" {
			certB = c
		}
		cert, key := writeCertFiles(t, filepath.Join(o.dir, h.name), c)
		editConfig(t, h.cfg, "    externally_secured: true\n",
			fmt.Sprintf("    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}\n", cert, key, ca.file))
		editConfig(t, h.cfg, "shadow_heartbeat_retry_count: 3}",
			fmt.Sprintf("shadow_heartbeat_retry_count: 3, client_cert_file: %q, client_key_file: %q}", cert, key))
	}
	return o, certB
}

// xshadowFrom opens a session to addr from the address src, presents
// cert at STARTTLS and states XSHADOW id; it returns the reply.
func xshadowFrom(t *testing.T, src, addr string, cert tls.Certificate, id string) string {
	t.Helper()
	s := rawDialFrom(t, src, addr)
	s.cmd("EHLO elsewhere.example", "250")
	s.cmd("STARTTLS", "220")
	tc := tls.Client(s.c, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS with %s's certificate: %v", id, err)
	}
	s.c, s.r = tc, bufio.NewReader(tc)
	s.cmd("EHLO elsewhere.example", "250")
	r := s.cmd("XSHADOW "+id, "")
	s.cmd("QUIT", "221")
	return r[len(r)-1]
}

// SR-17 (rt29a F2): one session from an address that is not hub-b's,
// presenting hub-b's valid certificate and stating XSHADOW hub-b, is
// refused (550 5.7.1 … is not one of hub-b's addresses) — and it must not
// switch shadow on receipt to hub-b off while hub-b's own sessions are
// let in here. Before, every message to hub-a (remote-only, reject on
// shadow failure) got 451 4.4.0 No shadow server available until hub-b's
// next session came, over a minute later: anyone holding a copy of a
// server's certificate, or the server's own second interface, took all
// mail down. README: a refusal caused by the address alone, while a
// session of that server was let in here within the last minute, is
// another host's and marks nothing.
func TestSR17RefusalByAddressAloneKeepsCopiesOnTheServer(t *testing.T) {
	o, certB := certReceiptHubs(t, "remote-only", true)
	sink := startRecorder(t, o.sink)
	ha, _ := o.start(t)
	o.sendCopied(t, "Subject: first\r\n\r\nbody")
	waitArrived(t, sink, []string{"first"}, ha)
	// hub-b fetched the copy's discard: a session of its own, from
	// 127.0.0.1, let in at hub-a.
	p := &shadowPair{}
	waitCond(t, "hub-b to discard its copy of hub-a's message", 30*time.Second, func() bool {
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})
	reply := xshadowFrom(t, "127.0.0.192", o.a, certB, "hub-b")
	if !strings.HasPrefix(reply, "550 5.7.1") || !strings.Contains(reply, "is not one of hub-b's addresses") {
		t.Fatalf("XSHADOW hub-b with hub-b's certificate from 127.0.0.192: %q, want 550 5.7.1 … is not one of hub-b's addresses", reply)
	}
	for i := range 3 {
		subject := fmt.Sprintf("after-%d", i)
		r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subject+"\r\n\r\nbody")
		if !strings.HasPrefix(r, "250") || !strings.Contains(r, "shadow copy on hub-b") {
			dests, _ := cli(t, o.cfgA, "queue", "destinations")
			ha.dumpLog()
			t.Fatalf("message %d after one refused session from another address: %q, want a 250 naming the copy on hub-b; queue destinations:\n%s", i, r, dests)
		}
	}
	if dests, _ := cli(t, o.cfgA, "queue", "destinations"); strings.Contains(dests, "server:refused:hub-b") {
		t.Fatalf("hub-a marks hub-b refused after one session from another address:\n%s", dests)
	}
}

// SR-17 (rt29a F2): README, "tried again for a copy once a minute":
// a holder whose shadow session was refused here gets no copy on receipt
// — but not until its next session is let in (which never comes while
// it holds no copy of this server's): it is tried again for a copy in
// its place once a minute; the copy made there leads hub-b, which holds
// a copy of hub-a's now, to open its watch session, and that session let
// in ends the refusal. A
// client of hub-a's externally secured connector's ranges stating
// XSHADOW hub-b from an address that is not hub-b's is refused and
// marks nothing (rt39 F2: it proves nothing about hub-b; the next
// message still gets its copy there). A session from hub-b's own
// address refused (it presents hub-a's own database id as hub-b's) is
// hub-b's, and marks it (README): with remote-only and
// reject_on_shadow_failure every message is refused meanwhile. The test waits, bounded, for a message accepted with its
// copy on hub-b; it asserts no duration.
func TestSR17RefusedHolderTriedAgainForACopy(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "remote-only", true)
	// A second connector of hub-a, externally secured, that offers no
	// shadow verbs (on this lane's address, 127.0.0.171).
	noVerbs := rt39FreeAddr(t)
	editConfig(t, o.cfgA, "    limits: {max_connections_per_source: 500}\n", fmt.Sprintf(`    limits: {max_connections_per_source: 500}
  - name: noverbs
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit]}
`, noVerbs))
	sink := startRecorder(t, o.sink)
	ha, _ := o.start(t)
	o.sendCopied(t, "Subject: first\r\n\r\nbody")
	waitArrived(t, sink, []string{"first"}, ha)
	p := &shadowPair{}
	waitCond(t, "hub-b to discard its copy of hub-a's message", 30*time.Second, func() bool {
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})
	s := rawDialFrom(t, "127.0.0.193", o.a)
	s.cmd("EHLO elsewhere.example", "250")
	if r := s.cmd("XSHADOW hub-b", "550"); !strings.Contains(r[len(r)-1], "does not match the connection's address") {
		t.Fatalf("XSHADOW hub-b from 127.0.0.193: %q", r)
	}
	s.cmd("QUIT", "221")
	if r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: stranger\r\n\r\nbody"); !strings.HasPrefix(r, "250") || !strings.Contains(r, "shadow copy on hub-b") {
		t.Fatalf("the message right after a stranger's XSHADOW hub-b: %q, want 250 with its copy on hub-b (the stranger proves nothing about hub-b)", r)
	}
	// From hub-b's own address, on hub-a's connector that offers no
	// shadow verbs: refused, and the refusal is hub-b's.
	s = rawDialFrom(t, "127.0.0.2", noVerbs)
	s.cmd("EHLO hub-b.example", "250")
	s.cmd("XSHADOW hub-b", "502")
	s.cmd("QUIT", "221")
	r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: refused\r\n\r\nbody")
	if !strings.HasPrefix(r, "451 4.4.0") {
		t.Fatalf("the message right after hub-b was marked: %q, want 451 4.4.0 (remote-only, reject on shadow failure)", r)
	}
	dests, _ := cli(t, o.cfgA, "queue", "destinations", "--json")
	if !strings.Contains(dests, "server:refused:hub-b") || !strings.Contains(dests, "one copy a minute is made there all the same, the next at") {
		t.Fatalf("queue destinations does not say when hub-b is tried again:\n%s", dests)
	}
	if st := shadowState(t, o.cfgA, "hub-b"); st != "refused" {
		out, _ := cli(t, o.cfgA, "shadow", "list")
		t.Fatalf("hub-a's shadow list gives hub-b %q while its sessions are refused here, want a refused row:\n%s", st, out)
	}
	if out, _ := cli(t, o.cfgA, "shadow", "list", "--json"); !strings.Contains(out, "one copy a minute is made there all the same, the next at") {
		t.Fatalf("shadow list's refused row does not say when hub-b is tried again:\n%s", out)
	}
	accepted := false
	for i := 0; i < 40 && !accepted; i++ { // 40 × 5 s at most
		time.Sleep(5 * time.Second)
		r = rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, fmt.Sprintf("Subject: again-%d\r\n\r\nbody", i))
		accepted = strings.HasPrefix(r, "250") && strings.Contains(r, "shadow copy on hub-b")
	}
	if !accepted {
		ha.dumpLog()
		t.Fatalf("hub-b never tried again for a copy: the last reply %q", r)
	}
	waitLogCount(t, ha, "tried again for a copy on receipt (once a minute)", 1)
	// The copy made ends nothing; hub-b's watch for it, let in here,
	// does.
	waitCond(t, "the refusal of hub-b's sessions to end", 30*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return strings.Contains(string(b), "sessions are let in here again")
	})
	if r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: after\r\n\r\nbody"); !strings.HasPrefix(r, "250") {
		t.Fatalf("the message after the copy ended the refusal: %q", r)
	}
	if d, _ := cli(t, o.cfgA, "queue", "destinations"); strings.Contains(d, "server:refused:hub-b") {
		t.Fatalf("queue destinations keeps server:refused:hub-b after the copy made there:\n%s", d)
	}
	if st := shadowState(t, o.cfgA, "hub-b"); st == "refused" {
		out, _ := cli(t, o.cfgA, "shadow", "list")
		t.Fatalf("hub-a's shadow list keeps hub-b refused after the copy made there:\n%s", out)
	}
}

// rt39FreeAddr is a free port of 9500-9999 on 127.0.0.171.
func rt39FreeAddr(t *testing.T) string {
	t.Helper()
	return addrInRange(t, "127.0.0.171", 9500, 500)
}
