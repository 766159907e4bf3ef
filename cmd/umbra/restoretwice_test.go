package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt47 F1, F2: mail delivered after a backup, the backup restored twice
// before a start. The second restore's replaced database — the first
// restore's result — held the messages to be suspended by its first
// start, and the comparison took them for mail still to deliver: the
// second restore listed none (`"restored_suspended": []`), and the start
// delivered every one of them a second time. And a message restored
// suspended said nothing of why it was held: message show gave its old
// deferral as its last error, --json had no mark, queue list called it
// suspended by message suspend, and a resume (or its dry run) gave no
// warning that it may have gone already.
func TestQ4RestoreTwiceKeepsMailDeliveredSinceBackupSuspended(t *testing.T) {
	dir := t.TempDir()
	listen := addrInRange(t, "127.0.0.155", 15500, 50)
	sinkAddr := addrInRange(t, "127.0.0.155", 15550, 50)
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	const n = 3
	for i := range n {
		msg := fmt.Sprintf("Message-ID: <twice-%d@example.org>\r\nSubject: twice-%d\r\n\r\nbody", i, i)
		if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("twice-%d: %q", i, r)
		}
	}
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	sink := startRecorder(t, sinkAddr)
	total := func() int {
		k := 0
		for s, c := range sink.counts() {
			if strings.HasPrefix(s, "twice-") {
				k += c
			}
		}
		return k
	}
	waitTotal := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for total() < want && time.Now().Before(deadline) {
			if out, code := cli(t, cfg, "queue", "flush"); code != 0 {
				t.Fatalf("queue flush: exit %d %q", code, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got := total(); got != want {
			t.Fatalf("%s: the next hop got %d deliveries, want %d: %v", what, got, want, sink.counts())
		}
	}
	waitTotal(n, "after the backup")
	stopDaemon(t, d)
	for i := 1; i <= 2; i++ {
		out, code := cli(t, cfg, "--json", "db", "restore", backup)
		var res struct {
			Suspended []string `json:"restored_suspended"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("db restore %d: exit %d %s", i, code, out)
		}
		if len(res.Suspended) != n {
			t.Fatalf("db restore %d listed %d messages restored suspended, want the %d delivered after the backup: %s", i, len(res.Suspended), n, out)
		}
	}
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	// Suspended in the start's own commit: none claimed, none delivered.
	lst, code := cli(t, cfg, "--json", "message", "list")
	var ms []struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		LastError string `json:"last_error"`
		Restored  bool   `json:"restored_suspended"`
	}
	if code != 0 || json.Unmarshal([]byte(lst), &ms) != nil || len(ms) != n {
		t.Fatalf("message list after the second restore: exit %d, want the %d messages: %s", code, n, lst)
	}
	for _, m := range ms {
		if m.State != "suspended" || !m.Restored || !strings.HasPrefix(m.LastError, "restored suspended: ") {
			t.Errorf("message %s after two restores: state %s, restored_suspended %v, last error %q; want suspended, marked, saying it was restored so",
				m.ID, m.State, m.Restored, m.LastError)
		}
	}
	if show, _ := cli(t, cfg, "message", "show", ms[0].ID); !strings.Contains(show, "last error: restored suspended: the database the restore replaced no longer held it") {
		t.Errorf("message show of a message restored suspended:\n%s\nwant its last error to say why it is held", show)
	}
	if ql, _ := cli(t, cfg, "queue", "list"); !strings.Contains(ql, "restored suspended by db restore") || strings.Contains(ql, "held one by one (message suspend)") {
		t.Errorf("queue list:\n%s\nwant the restore's holds told apart from the operator's", ql)
	}
	dry, code := cli(t, cfg, "message", "resume", "--all", "--dry-run")
	if code != 0 || strings.Count(dry, "may reach a recipient a second time") != n {
		t.Errorf("message resume --all --dry-run: exit %d\n%s\nwant each of the %d warned of as maybe delivered already", code, dry, n)
	}
	if dry, _ := cli(t, cfg, "message", "resume", "--dry-run", ms[0].ID); !strings.Contains(dry, "may reach a recipient a second time") {
		t.Errorf("message resume --dry-run %s:\n%s\nwant the warning", ms[0].ID, dry)
	}
	// The operator's word sends one, warned; the others stay held.
	out, code := cli(t, cfg, "message", "resume", ms[0].ID)
	if code != 0 || !strings.Contains(out, "may reach a recipient a second time") {
		t.Fatalf("message resume %s: exit %d %q, want it resumed with the warning", ms[0].ID, code, out)
	}
	waitTotal(n+1, "the one resumed")
	lst, _ = cli(t, cfg, "--json", "message", "list", "--state", "suspended")
	if err := json.Unmarshal([]byte(lst), &ms); err != nil || len(ms) != n-1 {
		t.Fatalf("after one resume %d messages suspended, want %d still held: %s", len(ms), n-1, lst)
	}
	if got := total(); got != n+1 {
		t.Fatalf("the next hop got %d deliveries, want %d: the backup's mail once, and the one resumed", got, n+1)
	}
}
