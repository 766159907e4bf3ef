package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// loop49 F2: a message the operator suspended (message suspend) in a
// queue suspended too is held twice. Its message resume answered that it
// was resumed, exit 0, and released only its own hold: the queue's
// suspension still held it, which the answer did not say. Now it is
// refused as the restored-suspended case is, naming the order, and the
// message keeps its hold.
func TestSuspendedMessageInSuspendedQueueResumeRefused(t *testing.T) {
	dir := t.TempDir()
	listen := addrInRange(t, "127.0.0.157", 15700, 50)
	sinkAddr := addrInRange(t, "127.0.0.157", 15750, 50)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, "Subject: held twice\r\n\r\nbody"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %q", r)
	}
	var ms []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	lst, _ := cli(t, cfg, "--json", "message", "list")
	if json.Unmarshal([]byte(lst), &ms) != nil || len(ms) != 1 {
		t.Fatalf("message list: %s", lst)
	}
	id := ms[0].ID
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := cliCombined(t, cfg, "message", "suspend", id)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message suspend: exit %d\n%s", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, code := cliCombined(t, cfg, "message", "resume", id)
	if code == 0 || !strings.Contains(out, "which is suspended too") || !strings.Contains(out, "umbra queue resume smarthost:sink first, then umbra message resume "+id) {
		t.Fatalf("message resume of a suspended message its queue's suspension holds too: exit %d\n%s", code, out)
	}
	show, _ := cli(t, cfg, "--json", "message", "show", id)
	if !strings.Contains(show, `"state": "suspended"`) {
		t.Errorf("the refused resume released the message's own hold:\n%s", show)
	}
	// The order named works: the queue's resume, then the message's.
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 {
		t.Fatalf("queue resume: exit %d %q", code, out)
	}
	if out, code := cliCombined(t, cfg, "message", "resume", id); code != 0 {
		t.Fatalf("message resume after the queue's: exit %d\n%s", code, out)
	}
}
