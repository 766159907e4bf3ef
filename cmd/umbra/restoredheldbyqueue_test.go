package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ops49 F2: a message a restore suspended ("restored suspended") in a
// queue the backup had suspended too is held twice. `message resume ID`
// said it was resumed and "goes again" (exit 0) while the queue's
// suspension still held it; its tenth of message_expiration for the
// resume's attempt then ran out with no attempt made. The resume is
// refused naming `queue resume`, as for any message its queue's
// suspension holds, and the message keeps the restore's hold.
func TestRestoredSuspendedInSuspendedQueueResumeRefused(t *testing.T) {
	dir := t.TempDir()
	listen := addrInRange(t, "127.0.0.156", 15600, 50)
	sinkAddr := addrInRange(t, "127.0.0.156", 15650, 50)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	msg := "Message-ID: <twice@example.org>\r\nSubject: twice\r\n\r\nbody"
	if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %q", r)
	}
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	// After the backup the message is delivered: the restore brings it
	// back restored suspended, under the queue suspended in the backup.
	sink := startRecorder(t, sinkAddr)
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 {
		t.Fatalf("queue resume: exit %d %q", code, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sink.counts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("never delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitCond(t, "the queue empty", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "--json", "message", "list")
		return strings.TrimSpace(out) == "[]" || strings.TrimSpace(out) == "null"
	})
	stopDaemon(t, d)
	if out, code := cli(t, cfg, "db", "restore", backup); code != 0 || !strings.Contains(out, "restored suspended") {
		t.Fatalf("db restore: exit %d\n%s", code, out)
	}
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	lst, _ := cli(t, cfg, "--json", "message", "list")
	var ms []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if json.Unmarshal([]byte(lst), &ms) != nil || len(ms) != 1 {
		t.Fatalf("message list: %s", lst)
	}
	out, code := cliCombined(t, cfg, "message", "resume", ms[0].ID)
	if code == 0 || strings.Contains(out, "goes again") || !strings.Contains(out, "umbra queue resume smarthost:sink") {
		t.Fatalf("message resume of a message its queue's suspension holds: exit %d\n%s", code, out)
	}
	show, _ := cli(t, cfg, "--json", "message", "show", ms[0].ID)
	if !strings.Contains(show, `"restored_suspended": true`) {
		t.Errorf("the refused resume released the restore's hold:\n%s", show)
	}
	// queue list (text) counts the restored-suspended message apart.
	ql, _ := cli(t, cfg, "queue", "list")
	if !strings.Contains(ql, "restored suspended") {
		t.Errorf("queue list does not count the restored-suspended message:\n%s", ql)
	}
	_ = fmt.Sprint
}
