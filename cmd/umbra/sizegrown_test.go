package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// grownEdge writes the configuration of an edge that takes mail of at
// most limit bytes at listen (bare newlines made CRLF, message
// authentication's DKIM check run: its Authentication-Results field
// written, no lookup made for a message without a signature; the
// resolver at dns answers nothing) and relays everything to the
// smart host sink through a send connector of the same limit.
func grownEdge(t *testing.T, dir, listen, dns, sink string, limit int) string {
	return writeConfig(t, dir, fmt.Sprintf(`server:
  name: edge.e2e.test
  data_dir: %s
  metrics_listen: ""
transport:
  retry_schedule: [1s]
  retry_jitter: 0.1
accepted_domains:
  - domain: example.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit, relay]
    limits: {max_connections_per_source: 50, max_message_size: %d}
    bare_newlines: normalize
    max_acknowledgement_delay: 0s
    message_authentication: {dkim: header}
dns:
  servers: [%q]
  timeout: 1s
  attempts: 1
send_connectors:
  - name: sink
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: [%q]
    max_message_size: %d
    tls: none
mailbox:
  maildir: maildir
`, filepath.Join(dir, "data"), listen, limit, dns, sink, limit))
}

// grownShapes are messages of exactly n bytes as their sender sends
// them, each of a shape to which the receiving edge adds bytes of its
// own besides its Received field: its Authentication-Results field
// (every shape), and
//   - "fields alone, no CRLF": a header section alone whose last line
//     ends without CRLF (BDAT only): the line break and the empty line,
//     four bytes;
//   - "no empty line": header fields, then a line that is no field: the
//     empty line umbra puts between them;
//   - "bare LF": a body whose lines end with a bare LF, each made CRLF
//     (bare_newlines: normalize).
//
// bdat says the shape can be sent by BDAT only.
func grownShapes(n int, subject string) []struct {
	name string
	msg  string
	bdat bool
} {
	// fill: head, then lines, then a last line of last and padding
	// ended by end, n bytes in all.
	fill := func(head, line, last, end string) string {
		b := head
		for len(b)+len(line)+len(last)+len(end)+80 < n {
			b += line
		}
		return b + last + strings.Repeat("z", n-len(b)-len(last)-len(end)) + end
	}
	return []struct {
		name string
		msg  string
		bdat bool
	}{
		{"plain", fill("Subject: "+subject+"-plain\r\nFrom: a@example.org\r\n\r\n", strings.Repeat("y", 78)+"\r\n", "", "\r\n"), false},
		{"fields alone, no CRLF", fill("Subject: "+subject+"-fields\r\nFrom: a@example.org\r\n", "X-Pad: "+strings.Repeat("p", 71)+"\r\n", "X-End: ", ""), true},
		{"no empty line", fill("Subject: "+subject+"-noempty\r\nFrom: a@example.org\r\nthis line is no header field\r\n", strings.Repeat("y", 78)+"\r\n", "", "\r\n"), false},
		{"bare LF", fill("Subject: "+subject+"-barelf\r\nFrom: a@example.org\r\n\r\n", strings.Repeat("y", 79)+"\n", "", "\r\n"), false},
	}
}

// submitShape sends msg by BDAT (one LAST chunk) or DATA on a new
// session, from the address addr names (the test's own), and returns
// the reply to its end.
func submitShape(t *testing.T, addr, msg string, bdat bool) string {
	t.Helper()
	host, _, _ := net.SplitHostPort(addr)
	dl := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	c, err := dl.Dial("tcp", addr)
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
	var r []string
	if bdat {
		fmt.Fprintf(s.c, "BDAT %d LAST\r\n%s", len(msg), msg)
		r = s.expect("")
	} else {
		s.cmd("DATA", "354")
		r = s.cmd(msg+".", "") // msg ends with its CRLF
	}
	s.cmd("QUIT", "221")
	return r[len(r)-1]
}

// SMTP-5, RT-7 (README "What a size limit measures"): what umbra itself
// adds to a message at receipt — its Authentication-Results field, the
// line break and empty line after a header section alone sent without a
// final CRLF, the empty line between the header fields and a first line
// that is no field, a CR before every bare LF (bare_newlines:
// normalize) — is not counted as the sender's: a message sent at
// exactly the receive connector's limit is relayed through a send
// connector of the same limit (to a real SMTP server), and one byte more
// is refused at receipt (552 5.3.4), never accepted and bounced.
func TestSMTP5WhatUmbraAddsNotCountedAgainstSendLimit(t *testing.T) {
	const limit = 20000
	dir := t.TempDir()
	listen := testsupport.AddrInRange(t, "127.0.0.152", 8200, 100)
	sinkAddr := testsupport.AddrInRange(t, "127.0.0.152", 8300, 50)
	dns := testsupport.AddrInRange(t, "127.0.0.152", 8350, 50) // nothing answers there
	sink := startRecorder(t, sinkAddr)
	d := startUmbra(t, grownEdge(t, dir, listen, dns, sinkAddr, limit), listen)
	d.dumpLogIfFailed()
	var acked []string
	for _, sh := range grownShapes(limit, "grown") {
		if len(sh.msg) != limit {
			t.Fatalf("%s: message of %d bytes, want %d", sh.name, len(sh.msg), limit)
		}
		if r := submitShape(t, listen, sh.msg, sh.bdat); !strings.HasPrefix(r, "250") {
			t.Fatalf("%s at the limit: %q", sh.name, r)
		}
		subj, _, _ := strings.Cut(strings.TrimPrefix(sh.msg, "Subject: "), "\r\n")
		acked = append(acked, subj)
	}
	for _, sh := range grownShapes(limit+1, "over") {
		if r := submitShape(t, listen, sh.msg, sh.bdat); !strings.HasPrefix(r, "552 5.3.4") {
			t.Fatalf("%s one byte over the limit: %q", sh.name, r)
		}
	}
	waitArrived(t, sink, acked, d)
}

// SMTP-5, RT-7 (README "What a size limit measures", dsnfit42): the DSN
// of a message of header fields alone, sent at exactly the limit of a
// single server's receive connector and send connector, is larger than
// that send connector takes (the message returned, and the report
// around it). The send connector refused it ("552 5.3.4 message size N
// exceeds the limit L of send connector sink") and the bounce was lost
// (bounce-lost): only routing's refusals were read for the limit to cut
// to. The DSN is made again with the header section cut to fit, and
// reaches the sender once; nothing is lost.
func TestSMTP5DSNCutToFitSendConnectorLimit(t *testing.T) {
	const limit = 20000
	dir := t.TempDir()
	listen := testsupport.AddrInRange(t, "127.0.0.168", 9800, 50)
	sinkAddr := testsupport.AddrInRange(t, "127.0.0.168", 9850, 50)
	dns := testsupport.AddrInRange(t, "127.0.0.168", 9900, 50) // nothing answers there
	sink := startRefusingSink(t, sinkAddr, "b@remote.example")
	d := startUmbra(t, grownEdge(t, dir, listen, dns, sinkAddr, limit), listen)
	d.dumpLogIfFailed()
	sh := grownShapes(limit, "fit")[1] // fields alone: its DSN returns all of it
	if r := submitShape(t, listen, sh.msg, sh.bdat); !strings.HasPrefix(r, "250") {
		t.Fatalf("%s at the limit: %q", sh.name, r)
	}
	deadline := time.Now().Add(60 * time.Second)
	var got []string
	for {
		if got = sink.to("a@example.org"); len(got) > 0 {
			break
		}
		log, _ := os.ReadFile(d.log)
		if strings.Contains(string(log), "bounce-lost") || time.Now().After(deadline) {
			t.Fatalf("no DSN reached the sender (bounce-lost: %v)", strings.Contains(string(log), "bounce-lost"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	dsn := got[0]
	if !strings.Contains(dsn, "Subject: fit-fields") || !strings.Contains(dsn, "text/rfc822-headers") {
		t.Fatalf("the DSN does not return the message's header section, cut:\n%.2000s", dsn)
	}
	time.Sleep(2 * time.Second) // a second copy would follow at once (retry_schedule 1s)
	if n := len(sink.to("a@example.org")); n != 1 {
		t.Fatalf("%d DSNs reached the sender, want 1", n)
	}
	if log, _ := os.ReadFile(d.log); strings.Contains(string(log), "bounce-lost") {
		t.Fatalf("a bounce logged lost")
	}
}
