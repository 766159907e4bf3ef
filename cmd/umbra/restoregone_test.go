package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt45 F2: messages the backup holds that the replaced (readable)
// database no longer holds — removed by the operator after the backup,
// here with --ndr, whose senders were told they failed — came back with
// the restore and were delivered. db restore now restores them
// suspended and lists them, saying how to release or remove them; they
// go only when the operator resumes them. Before: all three were
// delivered at the start after the restore, nothing said.
func TestQ4RestoreKeepsGoneMailSuspended(t *testing.T) {
	dir := t.TempDir()
	listen := addrInRange(t, "127.0.0.155", 15300, 50)
	sinkAddr := addrInRange(t, "127.0.0.155", 15350, 50)
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for i := range 3 {
		msg := fmt.Sprintf("Message-ID: <gone-%d@example.org>\r\nSubject: gone-%d\r\n\r\nbody", i, i)
		if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("gone-%d: %q", i, r)
		}
	}
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	if out, code := cli(t, cfg, "message", "remove", "--ndr", "--all"); code != 0 {
		t.Fatalf("message remove --ndr --all: exit %d %q", code, out)
	}
	// The failure DSNs go to their senders (through the sink): nothing
	// newer than the backup is left for the restore to refuse.
	sink := startRecorder(t, sinkAddr)
	deadline := time.Now().Add(30 * time.Second)
	total := func() int {
		n := 0
		for _, k := range sink.counts() {
			n += k
		}
		return n
	}
	for total() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := total(); n != 3 {
		t.Fatalf("%d failure DSNs reached the sink, want 3: %v", n, sink.counts())
	}
	stopDaemon(t, d)
	out, code := cli(t, cfg, "db", "restore", backup)
	if code != 0 {
		_, errOut := cliErr(t, cfg, "db", "restore", backup)
		t.Fatalf("db restore: exit %d %s", code, errOut)
	}
	if !strings.Contains(out, "3 messages") || !strings.Contains(out, "suspended") ||
		!strings.Contains(out, "<gone-0@example.org>") || !strings.Contains(out, "umbra message resume") ||
		!strings.Contains(out, "umbra message remove") {
		t.Fatalf("db restore of a backup holding 3 messages removed since: exit %d\n%s\nwant them listed as restored suspended, with how to release or remove them", code, out)
	}
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	lst, code := cli(t, cfg, "--json", "message", "list")
	var ms []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if code != 0 || json.Unmarshal([]byte(lst), &ms) != nil {
		t.Fatalf("message list: exit %d %s", code, lst)
	}
	var ids []string
	for _, m := range ms {
		if m.State != "suspended" {
			t.Errorf("message %s restored %s, want suspended", m.ID, m.State)
		}
		ids = append(ids, m.ID)
	}
	if len(ids) != 3 {
		t.Fatalf("after the restore %d messages listed, want the 3 removed after the backup, suspended: %s", len(ids), lst)
	}
	// The operator's word sends one.
	if out, code := cli(t, cfg, "message", "resume", ids[0]); code != 0 {
		t.Fatalf("message resume %s: exit %d %s", ids[0], code, out)
	}
	gone := func() map[string]int {
		out := map[string]int{}
		for s, n := range sink.counts() {
			if strings.HasPrefix(s, "gone-") {
				out[s] = n
			}
		}
		return out
	}
	deadline = time.Now().Add(20 * time.Second)
	for len(gone()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the others would have gone by now
	if got := gone(); len(got) != 1 || total() != 4 {
		t.Fatalf("the next hop got %v; want the one message resumed, not the two still suspended", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "queue.db")); err != nil {
		t.Fatal(err)
	}
}
