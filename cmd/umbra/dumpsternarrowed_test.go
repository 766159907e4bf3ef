package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"umbra/internal/dumpster"
)

// TD-1, OPS-3 (ops26 4): dumpster remove given an id and a filter that
// excludes its copy removes nothing and says that no copy of it was
// selected — never "no dumpster copy of ID", which tells the operator
// the copy is gone while it is kept (and sent them looking for a
// redelivery that took it).
func TestDumpsterRemoveSaysNoCopySelected(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	msg := "Message-ID: <narrow@example.org>\r\nSubject: kept\r\n\r\nbody"
	if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	var id string
	waitCond(t, "the dumpster copy", 30*time.Second, func() bool {
		out, code := cli(t, cfg, "dumpster", "list", "--database", "local", "--json")
		var es []dumpster.Entry
		if code != 0 || json.Unmarshal([]byte(out), &es) != nil || len(es) != 1 {
			return false
		}
		id = es[0].QueueID
		return true
	})
	_, errOut, code := cliAll(t, cfg, "dumpster", "remove", id, "--from", "someone-else@")
	if code != exitNotFound || strings.Contains(errOut, "no dumpster copy of "+id+" (") ||
		!strings.Contains(errOut, "no dumpster copy of "+id+" is selected by --from") {
		t.Errorf("an id whose copy the filter excludes: exit %d, want %d saying no copy was selected:\n%s", code, exitNotFound, errOut)
	}
	out, code := cli(t, cfg, "dumpster", "list", "--database", "local", "--json")
	if code != 0 || !strings.Contains(out, id) {
		t.Fatalf("the copy is not kept (exit %d):\n%s", code, out)
	}
	// Its audit line says so too.
	if out, code := cli(t, cfg, "track", "--event", "admin", "--json"); code != 0 ||
		!strings.Contains(out, `"reply": "refused: no dumpster copy of `+id+` selected by the filter"`) {
		t.Errorf("audit lines (exit %d):\n%s", code, out)
	}
	// Without a filter the words are as before.
	if out, code := cli(t, cfg, "dumpster", "remove", id); code != 0 || !strings.Contains(out, "1 copy removed") {
		t.Fatalf("remove by id: exit %d\n%s", code, out)
	}
	if _, errOut, code := cliAll(t, cfg, "dumpster", "remove", id); code != exitNotFound || !strings.Contains(errOut, "no dumpster copy of "+id+" (") {
		t.Errorf("removing it again: exit %d\n%s", code, errOut)
	}
}
