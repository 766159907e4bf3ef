package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/dumpster"
)

// OPS-, TD-2 (rt36 F3): `dumpster list --database DB` stops at --limit
// (1000) copies and says so on standard error, in text and with --json
// (which stays the array of the copies shown), as message list and
// track do — never a silent cut of the copies an operator looks for
// after a mailbox failover. A listing within the limit says nothing.
func TestDumpsterListSaysWhenItStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := "127.0.0.175:9511", "127.0.0.175:9512" // the sink is never used: the mail is local
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for i := 1; i <= 3; i++ {
		msg := fmt.Sprintf("Message-ID: <lim-%d@example.org>\r\nSubject: copy %d\r\n\r\nbody %d", i, i, i)
		if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("message %d: %q", i, r)
		}
	}
	waitCond(t, "three dumpster copies", 30*time.Second, func() bool {
		out, code := cli(t, cfg, "dumpster", "list", "--database", "local", "--json")
		var es []dumpster.Entry
		return code == 0 && json.Unmarshal([]byte(out), &es) == nil && len(es) == 3
	})

	out, errOut, code := cliAll(t, cfg, "dumpster", "list", "--database", "local", "--limit", "2")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "stopped at the limit of 2 copies") {
		t.Errorf("list --limit 2: exit %d\n%s\nstderr: %q", code, out, errOut)
	}
	out, errOut, code = cliAll(t, cfg, "dumpster", "list", "--database", "local", "--limit", "2", "--json")
	var es []dumpster.Entry
	if err := json.Unmarshal([]byte(out), &es); code != 0 || err != nil || len(es) != 2 || !strings.Contains(errOut, "stopped at the limit of 2 copies") {
		t.Errorf("list --limit 2 --json: exit %d, %v\n%s\nstderr: %q", code, err, out, errOut)
	}
	out, errOut, code = cliAll(t, cfg, "dumpster", "list", "--database", "local", "--limit", "3")
	if code != 0 || strings.Count(out, "\n") != 4 || errOut != "" {
		t.Errorf("list --limit 3 (every copy): exit %d\n%s\nstderr: %q", code, out, errOut)
	}
}
