package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

type noDelivery struct{}

func (noDelivery) Deliver(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }

// Quarantined mail in the transport database is held by the daemon,
// listed, shown, released into delivery and deleted through the admin
// socket, and stays held across a crash and restart.
func TestCLIQuarantine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	r := startRecorder(t, sinkAddr)

	// What an edge check quarantined at end of data (Message.Quarantine),
	// stored as the session's Submit stores it.
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(data, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr := queue.NewManager(store, noDelivery{}, queue.ManagerConfig{Hostname: "hub.e2e.test"})
	for i := 0; i < 3; i++ {
		m := &queue.Message{ID: store.NewID(time.Now()), From: "s@sender.test", Connector: "loopback", ClientIP: "127.0.0.9",
			Quarantine: fmt.Sprintf("spam score %d", 10+i), Rcpts: []queue.Recipient{{Addr: "x@remote.test"}}}
		body := fmt.Sprintf("Received: from x\r\nSubject: q-%d\r\n\r\nbody\r\n", i)
		if err := mgr.Submit(context.Background(), m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()

	d := startUmbra(t, cfg, listen)
	list := func() map[string]admin.MessageView {
		t.Helper()
		out, code := cli(t, cfg, "queue", "quarantine", "list", "--json")
		var ms []admin.MessageView
		if code != 0 || json.Unmarshal([]byte(out), &ms) != nil {
			t.Fatalf("quarantine list: exit %d\n%s", code, out)
		}
		bySubject := map[string]admin.MessageView{}
		for _, m := range ms {
			out, code := cli(t, cfg, "queue", "quarantine", "show", m.ID)
			if code != 0 || !strings.Contains(out, "reason:     "+m.Quarantine) {
				t.Fatalf("quarantine show %s: exit %d\n%s", m.ID, code, out)
			}
			_, subj, _ := strings.Cut(out, "subject:    ")
			subj, _, _ = strings.Cut(subj, "\n")
			bySubject[subj] = m
		}
		return bySubject
	}
	held := list()
	if len(held) != 3 || held["q-1"].Quarantine != "spam score 11" || held["q-1"].State != "quarantined" {
		t.Fatalf("held: %+v", held)
	}
	// A list cut at --limit says so on standard error, JSON or not.
	lim := exec.Command(umbraBin, "--config", cfg, "queue", "quarantine", "list", "--json", "--limit", "2")
	var limErr strings.Builder
	lim.Stderr = &limErr
	limOut, err := lim.Output()
	var cut []admin.MessageView
	if err != nil || json.Unmarshal(limOut, &cut) != nil || len(cut) != 2 ||
		!strings.Contains(limErr.String(), "stopped at the limit of 2 messages") {
		t.Fatalf("list --limit 2: %v, %d shown, stderr %q", err, len(cut), limErr.String())
	}
	var qs []queue.QueueInfo
	out, _ := cli(t, cfg, "queue", "list", "--json")
	json.Unmarshal([]byte(out), &qs)
	if len(qs) != 1 || qs[0].Name != "quarantine" || qs[0].Status != "held" || qs[0].Count != 3 {
		t.Fatalf("queue list: %s", out)
	}
	if _, code := cli(t, cfg, "message", "resume", held["q-0"].ID); code == 0 {
		t.Fatal("message resume released a quarantined message")
	}
	// The same id twice: the second is already released (it is being
	// delivered or gone by then), which is not an error to retry, and
	// not a second release either (rt39 F2: "2 of 2 released").
	if out, code := cli(t, cfg, "queue", "quarantine", "release", held["q-0"].ID, held["q-0"].ID); code != 0 ||
		!strings.Contains(out, held["q-0"].ID+" released\n") || !strings.Contains(out, "already released") ||
		!strings.Contains(out, "1 of 2 released, 1 already released\n") {
		t.Fatalf("release: exit %d %s", code, out)
	}
	waitArrived(t, r, []string{"q-0"}, d)
	if out, code := cli(t, cfg, "queue", "quarantine", "release", held["q-0"].ID); code != 0 || !strings.Contains(out, "already released") ||
		!strings.Contains(out, "0 of 1 released, 1 already released\n") {
		t.Fatalf("release after delivery: exit %d %s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "quarantine", "release", "--json", held["q-0"].ID); code != 0 ||
		!strings.Contains(out, `"done": []`) || !strings.Contains(out, `"already": [`) {
		t.Fatalf("release --json after delivery: exit %d %s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "quarantine", "delete", held["q-1"].ID); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: exit %d %s", code, out)
	}
	if _, code := cli(t, cfg, "queue", "quarantine", "delete", "--dsn", held["q-1"].ID); code != exitNotFound {
		t.Fatalf("second delete: exit %d, want %d", code, exitNotFound)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := cli(t, cfg, "track", "--json", "--message-id", held["q-0"].ID)
		if strings.Contains(out, `"event": "release"`) && strings.Contains(out, "spam score 10") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the release is not tracked:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	held0 := held["q-0"].ID
	d.kill() // a crash: q-2 stays quarantined
	d = startUmbra(t, cfg, listen)
	defer d.kill()
	held = list()
	if len(held) != 1 || held["q-2"].ID == "" {
		t.Fatalf("after restart: %+v", held)
	}
	// Across a restart the tracking log still knows q-0 was released.
	if out, code := cli(t, cfg, "queue", "quarantine", "release", held0); code != 0 || !strings.Contains(out, "already released") {
		t.Fatalf("release after restart: exit %d %s", code, out)
	}
	if out, _ := cli(t, cfg, "track", "--message-id", held0); !strings.Contains(out, "quarantine release by") ||
		strings.Contains(out, "quarantine quarantine") {
		t.Fatalf("audit wording:\n%s", out)
	}
	time.Sleep(2 * time.Second) // two retry intervals
	if got := r.counts(); got["q-1"]+got["q-2"] != 0 || got["q-0"] != 1 {
		t.Fatalf("delivered: %v", got)
	}
	if _, code := cli(t, cfg, "queue", "quarantine", "release", "0000000000000001"); code != exitNotFound {
		t.Fatalf("release of an unknown message: exit %d", code)
	}
	// Several ids: a failing one neither stops the others nor goes
	// unnamed; the summary counts, the exit says something failed.
	out, code := cli(t, cfg, "queue", "quarantine", "release", "0000000000000001", held["q-2"].ID, "0000000000000002")
	if code != exitNotFound || !strings.Contains(out, held["q-2"].ID+" released") || !strings.Contains(out, "1 of 3 released") ||
		!strings.Contains(out, "0000000000000001: failed") || !strings.Contains(out, "0000000000000002: failed") {
		t.Fatalf("release of three ids, two unknown: exit %d\n%s", code, out)
	}
	waitArrived(t, r, []string{"q-2"}, d)
	out, code = cli(t, cfg, "queue", "quarantine", "delete", "--json", held["q-2"].ID, "0000000000000003")
	var res struct {
		Total  int
		Done   []string
		Failed []struct{ ID, Error string }
	}
	if code == 0 || json.Unmarshal([]byte(out), &res) != nil || res.Total != 2 || len(res.Done) != 0 || len(res.Failed) != 2 ||
		res.Failed[1].ID != "0000000000000003" {
		t.Fatalf("delete --json of two ids that are not quarantined: exit %d\n%s", code, out)
	}
}
