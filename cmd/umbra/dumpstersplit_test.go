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

// A message to two local recipients, one of whose Maildir copies the
// failover lost, redelivered by dumpster resubmit: alice's copy is found
// in her Maildir, bob's delivered again, and the dumpster still holds
// one copy of the message of its one size (TD-1, rt16c F4).
func TestDumpsterMixedRedeliveryOneCopy(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	msg := "Message-ID: <split@example.org>\r\nSubject: split\r\n\r\nfor both\r\n"
	if r := rawSend(t, listen, "s@example.org", []string{"alice@example.test", "bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	summary := func() dumpster.Summary {
		out, code := cli(t, cfg, "dumpster", "list", "--json")
		var sums []dumpster.Summary
		if code != 0 || json.Unmarshal([]byte(out), &sums) != nil {
			return dumpster.Summary{}
		}
		for _, s := range sums {
			if s.Database == "local" {
				return s
			}
		}
		return dumpster.Summary{}
	}
	waitCond(t, "the dumpster copy", 30*time.Second, func() bool { return summary().Messages == 1 })
	first := summary()
	bob := filepath.Join(dir, "data", "maildir", "example.test", "bob", "new")
	files := func() []string { fs, _ := filepath.Glob(filepath.Join(bob, "*")); return fs }
	waitCond(t, "bob's copy", 30*time.Second, func() bool { return len(files()) == 1 })
	os.Remove(files()[0]) // the failover lost bob's copy only

	if out, errOut, code := cliAll(t, cfg, "dumpster", "resubmit", "--database", "local", "--since", "1h", "--request-id", "split1"); code != 0 {
		t.Fatalf("resubmit: exit %d\n%s%s", code, out, errOut)
	}
	waitCond(t, "bob's copy delivered again", 30*time.Second, func() bool { return len(files()) == 1 })
	waitCond(t, "the copy back in the dumpster", 30*time.Second, func() bool { return summary().Messages > 0 })
	if s := summary(); s.Messages != 1 || s.Bytes != first.Bytes {
		t.Errorf("after the redelivery the dumpster holds %d messages of %d bytes, want 1 of %d", s.Messages, s.Bytes, first.Bytes)
	}
	out, code := cli(t, cfg, "dumpster", "list", "--database", "local", "--json")
	var es []dumpster.Entry
	if code != 0 || json.Unmarshal([]byte(out), &es) != nil || len(es) != 1 || len(es[0].Recipients) != 2 {
		t.Errorf("dumpster list local: exit %d, want one copy for both recipients: %s", code, out)
	}
}
