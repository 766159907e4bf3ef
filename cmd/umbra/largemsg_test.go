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
)

// A message past the spool threshold, by DATA and by BDAT, reaches the
// Maildir byte for byte through the daemon, dot-stuffing undone, and its
// spool file is gone once it is delivered. (The dumpster is off here: a
// dumpster copy names the file too, and keeps it while it is held —
// TestSpoolReferenceCounting.)
func TestLargeMessageSpooledEndToEnd(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	editConfig(t, cfg, "  retry_jitter: 0.1\n", "  retry_jitter: 0.1\n  max_dumpster_size_per_database: 0\n")
	startUmbra(t, cfg, listen)
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "line %d of a large message, long enough to be spooled\r\n", i)
		if i%100 == 0 {
			b.WriteString(".a line that starts with a dot\r\n")
		}
	}
	body := b.String()
	sendByDataAndBDAT(t, listen, 2, func(i int) string { return fmt.Sprintf("Subject: large %d\r\n\r\n", i) + body })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dir, "data", "maildir", "example.test", "alice", "new", "*"))
		spool, _ := os.ReadDir(filepath.Join(dir, "data", "spool"))
		if len(files) == 2 && len(spool) == 0 {
			for _, f := range files {
				got, _ := os.ReadFile(f)
				if !strings.HasSuffix(string(got), "\r\n\r\n"+body) && !strings.HasSuffix(string(got), "\n\n"+strings.ReplaceAll(body, "\r\n", "\n")) {
					t.Fatalf("%s: the delivered message does not end with the body whole (%d bytes)", f, len(got))
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages in the Maildir, %d spool files", len(files), len(spool))
		}
	}
}

// A message past the spool threshold whose header section is long (past
// the size at which the store keeps a body in a bucket of its own) is
// taken with 250, by DATA and by BDAT, and reaches the Maildir whole,
// with the dumpster on (its copy names the spool file too).
func TestLargeMessageWithLongHeaderSection(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	startUmbra(t, cfg, listen)
	var h, b strings.Builder
	for i := 0; h.Len() < 40<<10; i++ {
		fmt.Fprintf(&h, "X-Field-%05d: one of many fields of a long header section\r\n", i)
	}
	for i := 0; b.Len() < 400<<10; i++ {
		fmt.Fprintf(&b, "line %d of a large message, long enough to be spooled\r\n", i)
	}
	body := b.String()
	sendByDataAndBDAT(t, listen, 1, func(i int) string {
		return fmt.Sprintf("Subject: long header %d\r\n", i) + h.String() + "\r\n" + body
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dir, "data", "maildir", "example.test", "alice", "new", "*"))
		if len(files) == 2 {
			for _, f := range files {
				got, _ := os.ReadFile(f)
				s := strings.ReplaceAll(string(got), "\r\n", "\n")
				if !strings.Contains(s, strings.ReplaceAll(h.String(), "\r\n", "\n")) || !strings.HasSuffix(s, "\n\n"+strings.ReplaceAll(body, "\r\n", "\n")) {
					t.Fatalf("%s: the delivered message lacks its header section or body whole (%d bytes)", f, len(got))
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages in the Maildir", len(files))
		}
	}
}

// sendByDataAndBDAT sends two messages from bob@example.org to
// alice@example.test in one session at listen, each taken with 250: the
// first, content(0), by DATA (dot-stuffed), the second, content(1), by
// BDAT in chunks pieces (the last one LAST).
func sendByDataAndBDAT(t *testing.T, listen string, chunks int, content func(i int) string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	reply := func(want string) {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(l) < 4 || l[3] != '-' {
				if !strings.HasPrefix(l, want) {
					t.Fatalf("got %q, want %s", l, want)
				}
				return
			}
		}
	}
	send := func(s string) {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	reply("220")
	send("EHLO client.test\r\n")
	reply("250")
	for i, bdat := range []bool{false, true} {
		m := content(i)
		send("MAIL FROM:<bob@example.org>\r\n")
		reply("250")
		send("RCPT TO:<alice@example.test>\r\n")
		reply("250")
		if bdat {
			for k, at := 0, 0; k < chunks; k++ {
				if k == chunks-1 {
					send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(m)-at, m[at:]))
					break
				}
				n := len(m) / chunks
				send(fmt.Sprintf("BDAT %d\r\n%s", n, m[at:at+n]))
				reply("250")
				at += n
			}
		} else {
			send("DATA\r\n")
			reply("354")
			send(strings.ReplaceAll(m, "\r\n.", "\r\n..") + ".\r\n")
		}
		reply("250")
	}
	send("QUIT\r\n")
}
