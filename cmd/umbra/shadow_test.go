package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// rawSession is a line-level SMTP client for the shadow verbs.
type rawSession struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, addr string) *rawSession {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	s := &rawSession{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

// cmd sends a line and returns the reply's lines after checking the
// last one starts with want.
func (s *rawSession) cmd(line, want string) []string {
	s.t.Helper()
	fmt.Fprintf(s.c, "%s\r\n", line)
	return s.expect(want)
}

func (s *rawSession) expect(want string) []string {
	s.t.Helper()
	var lines []string
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply (want %s): %v %v", want, err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			break
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, want) {
		s.t.Fatalf("got %v, want %s", lines, want)
	}
	return lines
}

// umbra as the primary of a shadow session (SR-2, SR-3, SR-4, W-1 … W-4):
// a message sent with XSHADOW= leaves a discard notification once it is
// delivered; the notification survives kill -9 and is handed only to the
// server it belongs to, once.
func TestPrimaryDiscardNotifications(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("hub-x:"+string(hash)+":server\nhub-y:"+string(hash)+":server\n"), 0o600)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "    permissions:\n      anonymous: [submit, relay]\n",
		fmt.Sprintf("    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}\n"+
			"    permissions:\n      anonymous: [submit]\n      servers: [submit, relay, accept-xshadow]\n", creds), 1)), 0o600)
	d := startUmbra(t, cfg, listen)
	sink := startRecorder(t, sinkAddr)

	open := func(server string) (*rawSession, string) {
		s := rawDial(t, listen)
		ehlo := s.cmd("EHLO "+server, "250")
		if !strings.Contains(strings.Join(ehlo, "\n"), "XSHADOW") {
			t.Fatalf("XSHADOW not advertised: %v", ehlo)
		}
		s.cmd("AUTH PLAIN "+plain(server, "pw"), "235")
		dbid := s.cmd("XSHADOW "+server, "250 ")[0][4:]
		return s, dbid
	}
	send := func(s *rawSession, shadowID, subject string) {
		s.cmd("MAIL FROM:<a@example.org> XSHADOW="+shadowID, "250")
		s.cmd("RCPT TO:<b@remote.example>", "250")
		s.cmd("DATA", "354")
		s.cmd("Subject: "+subject+"\r\n\r\nshadowed\r\n.", "250")
	}
	s, dbid := open("hub-x")
	if len(dbid) != 32 {
		t.Fatalf("database id %q", dbid)
	}
	send(s, "hubx-0001", "shadow-1")
	waitArrived(t, sink, []string{"shadow-1"}, d)
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = s.cmd("XQUERYDISCARD 10", "250")
		if len(got) == 2 && got[0] == "250-2.0.0 1 discard notifications" && got[1] == "250 hubx-0001" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("discard notification: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd("XQDISCARD 10", "250 2.0.0 0 discard notifications") // handed over once

	// A second message; the primary dies before the shadow server asks.
	send(s, "hubx-0002", "shadow-2")
	waitArrived(t, sink, []string{"shadow-2"}, d)
	// The notification is committed with the message's removal: wait for
	// the queue to empty, then kill.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if out, code := cli(t, cfg, "queue", "list", "--json"); code == 0 && strings.TrimSpace(out) == "null" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("queue not empty: %s", out)
		}
	}
	d.kill()
	d = startUmbra(t, cfg, listen)

	// Another server cannot have it.
	y, _ := open("hub-y")
	y.cmd("XQUERYDISCARD 10", "250 2.0.0 0 discard notifications")
	y.cmd("XSHADOW hub-x", "550 5.7.1")

	s, dbid2 := open("hub-x")
	if dbid2 != dbid {
		t.Fatalf("the database id changed over a restart: %s -> %s", dbid, dbid2)
	}
	if got := s.cmd("XQUERYDISCARD 10", "250"); len(got) != 2 || got[1] != "250 hubx-0002" {
		t.Fatalf("after kill -9: %v", got)
	}
}

func plain(user, pass string) string {
	return base64Std("\x00" + user + "\x00" + pass)
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
