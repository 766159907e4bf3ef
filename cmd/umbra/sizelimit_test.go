package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sendFrom sends msg (rawSend's form) to addr from the address src (a
// client that is not a server of the topology) and returns the reply.
func sendFrom(t *testing.T, src, addr, msg string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &rawSession{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<a@example.org>", "250")
	s.cmd("RCPT TO:<b@remote.example>", "250")
	s.cmd("DATA", "354")
	r := s.cmd(msg+"\r\n.", "")
	return r[len(r)-1]
}

// Two hubs with the same max_message_size: a message of exactly that
// size is accepted by hub-a (the limit is inclusive, RFC 1870) and its
// copy on receipt, larger by hub-a's Received field and the organisation
// id, is kept by hub-b (a transport server's allowance) instead of being
// refused there ("no shadow copy"); one byte more is refused by hub-a from a client that is not a server.
func TestShadowCopyAtSizeLimitTwoHubs(t *testing.T) {
	a, b, _, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	for _, cfg := range []string{cfgA, cfgB} {
		editConfig(t, cfg, "limits: {max_connections_per_source: 500}", "limits: {max_connections_per_source: 500, max_message_size: 20000}")
	}
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	msg := func(n int) string { // n bytes as sent, the final CRLF included
		head := "Subject: at-limit\r\n\r\n"
		line := strings.Repeat("y", 78) + "\r\n"
		body := strings.Repeat(line, (n-len(head))/len(line))
		rest := n - len(head) - len(body)
		if rest > 0 {
			body = body[:len(body)-len(line)] + strings.Repeat("z", len(line)+rest-2) + "\r\n"
		}
		m := head + body
		if len(m) != n {
			t.Fatalf("message of %d bytes, want %d", len(m), n)
		}
		return strings.TrimSuffix(m, "\r\n") // rawSend adds the CRLF before the dot
	}
	reply := sendFrom(t, "127.0.0.9", a, msg(20000))
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	if reply := sendFrom(t, "127.0.0.9", a, msg(20001)); !strings.HasPrefix(reply, "552 5.3.4") {
		t.Fatalf("one byte over the limit: %q", reply)
	}
}

// SR-17, RFC 1870: hub-b's receive connector takes messages of at most
// 20000 bytes (its SIZE), hub-a's any size; hub-a copies on receipt to
// the other site only, with reject_on_shadow_failure. A message over
// hub-b's SIZE has no shadow server to go to: hub-a sends it nowhere
// and answers before its commit (the connector's rule) 552 5.3.4 naming
// the limit — every candidate refused for its SIZE alone, a retry cannot
// help (rt17e-F2) — instead of committing, pushing the body to hub-b for
// its 552 and answering 250 held by hub-a only. A message within hub-b's
// SIZE is copied there as before. hub-b raising its limit by a reload
// takes the next copy at once, though hub-a keeps a session to it that
// read the old SIZE.
func TestShadowCopyOverPeerSizeFollowsShadowFailureRule(t *testing.T) {
	a, b, _, cfgA, _, cfgB := receiptOrg(t, "remote-only")
	editConfig(t, cfgB, "limits: {max_connections_per_source: 500}", "limits: {max_connections_per_source: 500, max_message_size: 20000}")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	body := func(n int) string {
		return "Subject: over-peer\r\n\r\n" + strings.Repeat(strings.Repeat("y", 78)+"\r\n", n/80) + "end"
	}
	if reply := sendFrom(t, "127.0.0.9", a, body(15000)); !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		t.Fatalf("within hub-b's SIZE: %q; want a 250 naming the copy on hub-b", reply)
	}
	if reply := sendFrom(t, "127.0.0.9", a, body(30000)); !strings.HasPrefix(reply, "552 5.3.4") || !strings.Contains(reply, "20000") {
		ha.dumpLog()
		t.Fatalf("over hub-b's SIZE: %q; want 552 5.3.4 naming hub-b's 20000", reply)
	}
	editConfig(t, cfgB, "max_message_size: 20000", "max_message_size: 40000")
	hb.hup()
	// The reload done when hub-b's EHLO says so; hub-a's session to
	// hub-b, with SIZE 20000, stays pooled.
	waitCond(t, "hub-b to offer SIZE 40000", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", b, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(c)
		r.ReadString('\n')
		c.Write([]byte("EHLO probe.test\r\n"))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			if strings.Contains(l, "SIZE 40000") {
				return true
			}
			if len(l) > 3 && l[3] == ' ' {
				return false
			}
		}
	})
	if reply := sendFrom(t, "127.0.0.9", a, body(30000)); !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		hb.dumpLog()
		t.Fatalf("after hub-b raised its SIZE to 40000: %q; want a 250 naming the copy on hub-b", reply)
	}
}

// The relay's sibling: hub-a relays to hub-b (the other site's hub, the
// only way out) and both take messages of at most 20000 bytes. A message
// of exactly that size, larger at hub-b by hub-a's Received field and
// the organisation id, is relayed and delivered: hub-b's SIZE is the
// limit the sender's message was held to (a transport server's
// allowance, smtp transportsize.go), so hub-a holds its size without
// umbra's own fields to it, not the bytes it sends — else it refused
// its own relay (552 5.3.4) and bounced a message it had accepted.
func TestRelayAtSizeLimitBetweenHubs(t *testing.T) {
	p := newShadowPair(t)
	for _, cfg := range []string{p.cfgA, p.cfgB} {
		editConfig(t, cfg, "limits: {max_connections_per_source: 500}", "limits: {max_connections_per_source: 500, max_message_size: 20000}")
	}
	sink := startRecorder(t, p.sink)
	hb := startUmbra(t, p.cfgB, p.b)
	ha := startUmbra(t, p.cfgA, p.a)
	head := "Subject: relay-at-limit\r\n\r\n"
	line := strings.Repeat("y", 78) + "\r\n"
	n := 20000
	msg := head + strings.Repeat(line, (n-len(head))/len(line))
	msg += strings.Repeat("z", n-len(msg)-2) + "\r\n"
	if len(msg) != n {
		t.Fatalf("message of %d bytes, want %d", len(msg), n)
	}
	if reply := sendFrom(t, "127.0.0.9", p.a, strings.TrimSuffix(msg, "\r\n")); !strings.HasPrefix(reply, "250") {
		t.Fatalf("at the limit: %q", reply)
	}
	defer func() {
		if t.Failed() {
			ha.dumpLog()
		}
	}()
	waitArrived(t, sink, []string{"relay-at-limit"}, hb)
}

// SMTP-5, RT-7 (rt42-front F1): a message of header fields alone (no
// empty line, no body) sent at exactly the limit is relayed between the hubs and delivered: the empty
// line hub-a puts after its header section is umbra's, not counted as
// the sender's (delivery sealedLen), as its Received field is not — else
// hub-a held 20002 bytes to hub-b's SIZE of 20000 and bounced a message
// it had accepted.
func TestHeaderOnlyRelayAtSizeLimitBetweenHubs(t *testing.T) {
	p := newShadowPair(t)
	for _, cfg := range []string{p.cfgA, p.cfgB} {
		editConfig(t, cfg, "limits: {max_connections_per_source: 500}", "limits: {max_connections_per_source: 500, max_message_size: 20000}")
	}
	sink := startRecorder(t, p.sink)
	hb := startUmbra(t, p.cfgB, p.b)
	ha := startUmbra(t, p.cfgA, p.a)
	defer func() {
		if t.Failed() {
			ha.dumpLog()
		}
	}()
	const n = 20000
	fields := "Subject: fields-alone-at-limit\r\n"
	for len(fields)+80 < n {
		fields += "X-Pad: " + strings.Repeat("p", 71) + "\r\n"
	}
	fields += "X-End: " + strings.Repeat("e", n-len(fields)-9) + "\r\n"
	if len(fields) != n {
		t.Fatalf("message of %d bytes, want %d", len(fields), n)
	}
	if reply := sendFrom(t, "127.0.0.9", p.a, strings.TrimSuffix(fields, "\r\n")); !strings.HasPrefix(reply, "250") {
		t.Fatalf("at the limit: %q", reply)
	}
	waitArrived(t, sink, []string{"fields-alone-at-limit"}, hb)
}

// SMTP-7, RT-7 (dsnfit42): a message of header fields alone refused at
// hub-a's planning by the send connector's cap (an edge with a lower
// limit than the hubs') has a failure DSN that the same cap refuses on
// the way back, and a header section as large as the whole: the DSN
// made again with the headers only is cut at a field boundary to fit
// the cap, reaches the sender, and no bounce is lost.
func TestDSNOfHeaderFieldsAloneFitsConnectorCapBetweenHubs(t *testing.T) {
	p := newShadowPair(t)
	for _, cfg := range []string{p.cfgA, p.cfgB} {
		editConfig(t, cfg, "limits: {max_connections_per_source: 500}", "limits: {max_connections_per_source: 500, max_message_size: 20000}")
	}
	editConfig(t, filepath.Join(p.dir, "topology.yaml"), "smart_hosts:", "max_message_size: 15000, smart_hosts:")
	sink := startRecorder(t, p.sink)
	hb := startUmbra(t, p.cfgB, p.b)
	ha := startUmbra(t, p.cfgA, p.a)
	ha.dumpLogIfFailed()
	const n = 19000
	fields := "Subject: fields-alone-over-cap\r\n"
	for len(fields)+80 < n {
		fields += "X-Pad: " + strings.Repeat("p", 71) + "\r\n"
	}
	if reply := sendFrom(t, "127.0.0.9", p.a, strings.TrimSuffix(fields, "\r\n")); !strings.HasPrefix(reply, "250") {
		t.Fatalf("accepted by hub-a: %q", reply)
	}
	// The original never passes the cap; the DSN returns its first
	// fields, its Subject among them, cut to the cap.
	const dsn = "Undelivered Mail Returned to Sender"
	waitArrived(t, sink, []string{dsn}, hb)
	sink.mu.Lock()
	got := sink.bodies[dsn]
	sink.mu.Unlock()
	if len(got) > 15000+2000 || !strings.Contains(got, "Subject: fields-alone-over-cap\r\n") || !strings.Contains(got, "it is cut at a field boundary") {
		t.Fatalf("the DSN the sender got, %d bytes:\n%.2000s", len(got), got)
	}
	b, _ := os.ReadFile(ha.log)
	if strings.Contains(string(b), "bounce lost") || !strings.Contains(string(b), "sent again with the headers only") {
		t.Fatalf("hub-a's log says a bounce was lost, or no DSN was made again")
	}
}
