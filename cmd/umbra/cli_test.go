package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// cli runs the umbra binary against a daemon's configuration and returns
// standard output and the exit code.
func cli(t testing.TB, cfg string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// The queue and message commands change what the daemon does: a suspended
// queue delivers nothing until resumed, a removed message never arrives,
// --ndr produces a bounce, and export returns the message as received.
func TestCLIManagesRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down for now
	d := startUmbra(t, cfg, listen)
	acked := sendMany(listen, "cli", 3, 1, nil)
	if len(acked) != 3 {
		t.Fatalf("acknowledged %d", len(acked))
	}

	var qs []queue.QueueInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "queue", "list", "--json")
		if code != 0 {
			t.Fatalf("queue list: exit %d", code)
		}
		json.Unmarshal([]byte(out), &qs)
		if len(qs) == 1 && qs[0].Name == "smarthost:sink" && qs[0].Count == 3 && qs[0].Status == "retry" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue list: %+v", qs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, code := cli(t, cfg, "queue", "list", "--json", "--filter", "status=ready"); code != 0 || strings.TrimSpace(out) != "null" {
		t.Fatalf("filter status=ready matched a retrying queue: %d %s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "list", "--filter", "type=smtp-smart-host", "--filter", "sink"); code != 0 || !strings.Contains(out, "smarthost:sink") {
		t.Fatalf("filters: %d %s", code, out)
	}
	if _, code := cli(t, cfg, "queue", "list", "--filter", "colour=red"); code != exitUsage {
		t.Fatalf("unknown filter: exit %d", code)
	}
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 || !strings.Contains(out, "suspend") {
		t.Fatalf("suspend: %d %s", code, out)
	}
	r := startRecorder(t, sinkAddr)

	bySubject := map[string]string{}
	out, _ := cli(t, cfg, "message", "list", "--json", "--queue", "smarthost:sink")
	var ms []admin.MessageView
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 3 {
		t.Fatalf("message list: %v %s", err, out)
	}
	for _, m := range ms {
		eml, code := cli(t, cfg, "message", "export", m.ID)
		if code != 0 || !strings.HasPrefix(eml, "Received: from ") {
			t.Fatalf("export %s: %d\n%s", m.ID, code, eml)
		}
		for _, s := range acked {
			if strings.Contains(eml, "Subject: "+s+"\r\n") {
				bySubject[s] = m.ID
			}
		}
	}
	if _, code := cli(t, cfg, "message", "remove", bySubject["cli-0"]); code != 0 {
		t.Fatalf("remove: exit %d", code)
	}
	if _, code := cli(t, cfg, "message", "remove", "--ndr", bySubject["cli-1"]); code != 0 {
		t.Fatalf("remove --ndr: exit %d", code)
	}
	if _, code := cli(t, cfg, "message", "show", bySubject["cli-0"]); code != exitNotFound {
		t.Fatalf("show of a removed message: exit %d, want %d", code, exitNotFound)
	}
	if _, code := cli(t, cfg, "message", "show", "not-an-id"); code != exitUsage {
		t.Fatalf("show of a malformed id: exit %d, want %d", code, exitUsage)
	}

	time.Sleep(2500 * time.Millisecond) // two retry intervals while suspended
	if got := r.counts(); len(got) != 0 {
		t.Fatalf("a suspended queue delivered: %v", got)
	}
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 {
		t.Fatalf("resume: %d %s", code, out)
	}
	waitArrived(t, r, []string{"cli-2", "Undelivered Mail Returned to Sender"}, d)
	if got := r.counts(); got["cli-0"]+got["cli-1"] != 0 {
		t.Fatalf("a removed message arrived: %v", got)
	}

	// The tracking log tells the whole story of cli-2, by umbra id.
	var es []tracking.Entry
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "track", "--json", "--message-id", bySubject["cli-2"])
		json.Unmarshal([]byte(out), &es)
		var events []string
		for _, e := range es {
			events = append(events, e.Event)
		}
		got := strings.Join(events, ",")
		if code == 0 && strings.HasPrefix(got, "receive,defer") && strings.HasSuffix(got, ",send") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("track: exit %d, events %s", code, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, _ := cli(t, cfg, "track", "--json", "--message-id", bySubject["cli-0"]); !strings.Contains(out, `"event": "remove"`) {
		t.Errorf("the removal is not tracked:\n%s", out)
	}
	if _, code := cli(t, cfg, "track"); code != exitUsage {
		t.Errorf("track without a filter: exit %d", code)
	}

	d.kill()
	if _, code := cli(t, cfg, "queue", "list"); code != exitUnavailable {
		t.Fatalf("queue list without a daemon: exit %d, want %d", code, exitUnavailable)
	}
}

// queue redirect sends what waits for a dead next hop to another server.
func TestCLIRedirectQueue(t *testing.T) {
	dir := t.TempDir()
	listen, deadAddr, otherAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, deadAddr)
	d := startUmbra(t, cfg, listen)
	acked := sendMany(listen, "redirect", 4, 2, nil)
	other := startRecorder(t, otherAddr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", otherAddr, "--json")
		var res struct{ Messages int }
		json.Unmarshal([]byte(out), &res)
		if code != 0 {
			t.Fatalf("redirect: exit %d %s", code, out)
		}
		if res.Messages == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redirected %d of 4", res.Messages)
		}
		time.Sleep(100 * time.Millisecond) // until all four were deferred once
	}
	waitArrived(t, other, acked, d)
	if _, code := cli(t, cfg, "queue", "redirect", "smarthost:sink"); code != exitUsage {
		t.Errorf("redirect without --to: exit %d", code)
	}
}
