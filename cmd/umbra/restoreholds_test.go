package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt47 F3: holds the operator made after a backup — a message
// suspended, a queue suspended — were released by a restore of that
// backup over the readable database that held them: the restore said
// only "nothing is left behind", and the start delivered the held mail.
// The restore keeps them and says so.
func TestQ4RestoreKeepsOperatorHoldsMadeAfterBackup(t *testing.T) {
	dir := t.TempDir()
	listen := addrInRange(t, "127.0.0.155", 15600, 50)
	sinkAddr := addrInRange(t, "127.0.0.155", 15650, 50)
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for i := range 2 {
		msg := fmt.Sprintf("Message-ID: <held-%d@example.org>\r\nSubject: held-%d\r\n\r\nbody", i, i)
		if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("held-%d: %q", i, r)
		}
	}
	lst, code := cli(t, cfg, "--json", "message", "list")
	var ms []struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		MessageID string `json:"message_id"`
	}
	if code != 0 || json.Unmarshal([]byte(lst), &ms) != nil || len(ms) != 2 {
		t.Fatalf("message list: exit %d %s", code, lst)
	}
	held, free := ms[0].ID, ms[1].ID
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	if out, code := cli(t, cfg, "message", "suspend", held); code != 0 {
		t.Fatalf("message suspend: exit %d %q", code, out)
	}
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	stopDaemon(t, d)
	out, code := cli(t, cfg, "db", "restore", backup)
	if code != 0 || !strings.Contains(out, "suspended by the operator in the replaced database: kept suspended, as it held it") ||
		!strings.Contains(out, held) || !strings.Contains(out, "the queue suspended in the replaced database and not in the backup is kept suspended: smarthost:sink") ||
		strings.Contains(out, "restored suspended") {
		t.Fatalf("db restore: exit %d\n%s\nwant the message and the queue held after the backup named as kept suspended", code, out)
	}
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	var qs []struct {
		Name      string `json:"name"`
		Suspended bool   `json:"suspended"`
	}
	ql, _ := cli(t, cfg, "--json", "queue", "list")
	if err := json.Unmarshal([]byte(ql), &qs); err != nil {
		t.Fatalf("queue list: %v %s", err, ql)
	}
	suspended := false
	for _, q := range qs {
		suspended = suspended || q.Name == "smarthost:sink" && q.Suspended
	}
	if !suspended {
		t.Errorf("after the restore smarthost:sink is not suspended: %s", ql)
	}
	// The queue's resume releases the one message it held; the one the
	// operator suspended stays held.
	sink := startRecorder(t, sinkAddr)
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 {
		t.Fatalf("queue resume: exit %d %q", code, out)
	}
	// The delivery's commit follows the next hop's reply: the listing
	// is read again until it has gone, not once as the reply came.
	deadline := time.Now().Add(30 * time.Second)
	for {
		lst, _ = cli(t, cfg, "--json", "message", "list")
		if err := json.Unmarshal([]byte(lst), &ms); err != nil || len(ms) <= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := json.Unmarshal([]byte(lst), &ms); err != nil || len(ms) != 1 || ms[0].ID != held || ms[0].State != "suspended" {
		t.Fatalf("after the queue's resume: %s\nwant only %s, suspended as the operator left it (%s delivered)", lst, held, free)
	}
	if n := sink.counts(); len(n) != 1 {
		t.Fatalf("the next hop got %v, want the one message not held", n)
	}
}
