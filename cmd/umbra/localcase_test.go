package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// rcptHop is a scripted next hop that answers every command of a
// delivery and records, per transaction, the RCPT TO addresses it was
// given, as given.
type rcptHop struct {
	mu    sync.Mutex
	txns  [][]string
	rcpts []string // the current transaction's
}

func startRcptHop(t *testing.T, addr string) (*rcptHop, string) {
	t.Helper()
	h := &rcptHop{}
	s := testsupport.Serve(t, addr, func(c net.Conn) { go h.serve(c) })
	return h, s.Addr()
}

func (h *rcptHop) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	c.Write([]byte("220 hop.test ESMTP\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		up := strings.ToUpper(cmd)
		switch {
		case strings.HasPrefix(up, "EHLO"):
			c.Write([]byte("250-hop.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n"))
		case strings.HasPrefix(up, "MAIL"):
			h.mu.Lock()
			h.rcpts = nil
			h.mu.Unlock()
			c.Write([]byte("250 2.1.0 ok\r\n"))
		case strings.HasPrefix(up, "RCPT TO:<"):
			a, _, _ := strings.Cut(cmd[len("RCPT TO:<"):], ">")
			h.mu.Lock()
			h.rcpts = append(h.rcpts, a)
			h.mu.Unlock()
			c.Write([]byte("250 2.1.5 ok\r\n"))
		case up == "DATA":
			c.Write([]byte("354 go on\r\n"))
			for n := 0; n < 100000; n++ { // bounded
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			h.mu.Lock()
			h.txns = append(h.txns, h.rcpts)
			h.rcpts = nil
			h.mu.Unlock()
			c.Write([]byte("250 2.0.0 queued\r\n"))
		case up == "QUIT":
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("250 ok\r\n"))
		}
	}
}

func (h *rcptHop) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, t := range h.txns {
		out = append(out, t...)
	}
	return out
}

// Only the destination host interprets a local part (RFC 5321 §2.4):
// recipients of a domain this organisation only relays to that differ
// in the case of their local part are two mailboxes, each acknowledged
// and each handed on (rt17b-F2). A repeat in the domain's form alone
// (U-label and A-label, ASCII case of the domain) is still the one
// recipient; so is a repeat in any ASCII case for an authoritative
// domain, whose mailboxes this organisation owns. (SMTP-… RCPT, RT-
// relay.)
func TestLocalPartCaseKeptForRelayedDomains(t *testing.T) {
	dir := t.TempDir()
	hop, hopAddr := startRcptHop(t, "127.0.0.1:0")
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, hopAddr)
	d := startUmbra(t, cfg, listen)
	defer d.dumpLogIfFailed()

	c := rawDial(t, listen)
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<alice@example.org> SMTPUTF8", "250")
	for _, r := range []string{
		"TD@good.test", "td@good.test", "td@GOOD.test.", // the last a repeat of the second
		"Anna@BÜCHER.test", "anna@xn--bcher-kva.test", "anna@bücher.test", // the last a repeat of the second
		"Bob@example.test", "bob@example.test", "BOB@Example.test", // authoritative: one mailbox
	} {
		c.cmd("RCPT TO:<"+r+">", "250")
	}
	c.cmd("DATA", "354")
	c.cmd("Subject: case\r\n\r\nhi\r\n.", "250")
	c.cmd("QUIT", "221")

	want := []string{"TD@good.test", "td@good.test", "Anna@bÜcher.test", "anna@xn--bcher-kva.test"}
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		if got = hop.received(); len(got) >= len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a stray extra RCPT would show by now
	got = hop.received()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("next hop was given RCPT TO %q, want %q", got, want)
	}
	// The authoritative domain's one mailbox got one copy.
	var files []string
	for time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(dir, "data", "maildir", "example.test", "*", "new", "*"))
		if len(files) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	files, _ = filepath.Glob(filepath.Join(dir, "data", "maildir", "example.test", "*", "new", "*"))
	if len(files) != 1 {
		ents, _ := os.ReadDir(filepath.Join(dir, "data", "maildir", "example.test"))
		t.Errorf("authoritative mailbox: %d copies delivered (%v, dirs %v), want 1", len(files), files, ents)
	}
}
