package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A message a dumpster redelivery puts back in the queue is on its
// server's disk alone: hub-b marks it held by this server only, and the
// holders' pass copies it to hub-a (SR-17, TD-2). hub-b is then killed
// -9 for good and its data_dir wiped; it comes back with a new transport
// database, hub-a resubmits the copy it holds (SR-7), and the message
// reaches the mailbox once. Without the mark the redelivered message
// went with hub-b's disk.
func TestRedeliveredCopySurvivesDiskLoss(t *testing.T) {
	t.Parallel()
	dir, a, b, cfgA, cfgB := mailboxOrg(t)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	msg := "Message-ID: <again@example.org>\r\nSubject: again\r\n\r\nredelivered once\r\n"
	if r := rawSend(t, a, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	waitMailboxOrgDone(t, dir, cfgA, cfgB, hb, 60*time.Second, func(n int) bool { return n == 1 })

	// The mailbox fails over to a copy that lost the message; its
	// delivery queue is held, so the redelivered message waits at hub-b.
	maildir := bobMailbox(dir)
	os.RemoveAll(filepath.Dir(maildir))
	if out, code := cli(t, cfgB, "queue", "suspend", "mailbox:local"); code != 0 {
		t.Fatalf("suspend: %d %s", code, out)
	}
	if out, code := cli(t, cfgB, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "fo-1"); code != 0 ||
		!strings.Contains(out, "resubmitted 1 message") {
		t.Fatalf("resubmit: exit %d\n%s", code, out)
	}
	p := &shadowPair{}
	waitCond(t, "hub-a to hold a copy of the redelivered message", 30*time.Second, func() bool {
		s, _ := p.held(t, cfgA, "hub-b")
		return s == 1
	})
	waitCond(t, "hub-b's mark to go once the copy is made", 30*time.Second, func() bool {
		out, code := cli(t, cfgB, "shadow", "single")
		return code == 0 && strings.HasPrefix(strings.TrimSpace(out), "none:")
	})

	hb.kill()
	os.RemoveAll(filepath.Join(dir, "hub-b", "data"))
	hb = startUmbra(t, cfgB, b)
	waitMailboxOrgDone(t, dir, cfgA, cfgB, hb, 90*time.Second, func(n int) bool { return n >= 1 })
	time.Sleep(time.Second) // a second copy on its way would land now
	files, _ := filepath.Glob(filepath.Join(maildir, "*"))
	if len(files) != 1 {
		t.Fatalf("%d copies in the mailbox, want exactly 1", len(files))
	}
	if b, _ := os.ReadFile(files[0]); !strings.Contains(string(b), "redelivered once") {
		t.Fatalf("delivered:\n%s", b)
	}
}
