package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/dumpster"
)

// rt21 F8: a kill -9 after the Maildir write and before the commit of
// its result (held open here by result_commit_delay: nothing else
// commits, so the result waits the full minute). After the restart the
// repeat finds its own file and is a suppressed duplicate — and used to
// keep no dumpster copy, as if another hub had written the file: after a
// mailbox failover that lost the file, `dumpster resubmit` could not
// bring the acknowledged message back. The repeat now keeps the copy,
// and the failover gets the message back.
func TestKill9BetweenMaildirWriteAndCommitKeepsDumpsterCopy(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	withResultCommitDelay(t, cfg, "1m")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	msg := "Message-ID: <repeat@example.org>\r\nSubject: repeat\r\n\r\nkept once\r\n"
	if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	newDir := filepath.Join(dir, "data", "maildir", "example.test", "bob", "new")
	files := func() []string { fs, _ := filepath.Glob(filepath.Join(newDir, "*")); return fs }
	waitCond(t, "the Maildir file", 30*time.Second, func() bool { return len(files()) == 1 })
	d.kill() // the file is written, its result is not committed
	d = startUmbra(t, cfg, listen)
	copies := func() []dumpster.Entry {
		out, code := cli(t, cfg, "dumpster", "list", "--database", "local", "--json")
		var es []dumpster.Entry
		if code != 0 || json.Unmarshal([]byte(out), &es) != nil {
			return nil
		}
		return es
	}
	// The repeat's results wait for their commit too (result_commit_delay);
	// an operator's request commits them first (dumpster list), and the
	// tracking line follows that commit.
	waitCond(t, "a dumpster copy of the repeated delivery", 30*time.Second, func() bool { return len(copies()) == 1 })
	waitCond(t, "the repeat suppressed as a duplicate", 10*time.Second, func() bool {
		out, _ := cli(t, cfg, "track", "--event", "duplicate-suppressed", "--json")
		return strings.Contains(out, "repeat@example.org")
	})
	if fs := files(); len(fs) != 1 {
		t.Fatalf("%d files in the mailbox after the repeat, want 1", len(fs))
	}

	// The mailbox database fails over to a copy that lost the file.
	os.RemoveAll(filepath.Dir(newDir))
	if out, code := cli(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "fo-1"); code != 0 ||
		!strings.Contains(out, "resubmitted 1 message") {
		t.Fatalf("resubmit: exit %d\n%s", code, out)
	}
	waitCond(t, "the message back in the mailbox", 30*time.Second, func() bool { return len(files()) == 1 })
	if b, _ := os.ReadFile(files()[0]); !strings.Contains(string(b), "<repeat@example.org>") {
		t.Fatalf("redelivered:\n%s", b)
	}
}
