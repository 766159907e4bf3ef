package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/admin"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// gatedHost is a plainHost that greets no connection before its gate
// opens: a next hop as slow as a test needs.
type gatedHost struct {
	plainHost
	gate  chan struct{}
	conns chan struct{}
}

func startGatedHost(t *testing.T, addr, name string) *gatedHost {
	t.Helper()
	h := &gatedHost{gate: make(chan struct{}), conns: make(chan struct{}, 64)}
	testsupport.Serve(t, addr, func(c net.Conn) {
		select {
		case h.conns <- struct{}{}:
		default:
		}
		go func() {
			select {
			case <-h.gate:
				h.serve(c, name)
			case <-time.After(2 * time.Minute):
				c.Close()
			}
		}()
	})
	return h
}

// sendWaiting submits one message from sender; nil when umbra said 250.
func sendWaiting(addr, sender, subject string) error {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	body := "From: " + sender + "\r\nTo: b@remote.example\r\nSubject: " + subject + "\r\n\r\nwaiting\r\n"
	if err := c.SendMail(sender, []string{"b@remote.example"}, strings.NewReader(body)); err != nil {
		return err
	}
	return c.Quit()
}

// sinkWaiting is the number of jobs waiting for a slot of the smart
// host's destination.
func sinkWaiting(t *testing.T, cfg string) int {
	out, code := cli(t, cfg, "queue", "destinations", "--json")
	var ds []queue.DestinationInfo
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil {
		return -1
	}
	for _, d := range ds {
		if d.Queue == "smarthost:sink" {
			return d.Waiting
		}
	}
	return 0
}

// messagesBySender is message list, by sender.
func messagesBySender(t *testing.T, cfg string) map[string]admin.MessageView {
	out, code := cli(t, cfg, "message", "list", "--json")
	var ms []admin.MessageView
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil {
		t.Fatalf("message list: %d %s", code, out)
	}
	by := map[string]admin.MessageView{}
	for _, m := range ms {
		by[m.From] = m
	}
	return by
}

// Mail claimed and queued behind its destination's window (max 1, the
// slot held by a next hop that does not greet) is the operator's:
// message suspend and remove, queue redirect and queue suspend act on
// it at once and it never goes to the old route — instead of "being
// delivered; try again" for as long as the slow delivery ahead takes,
// or a redirect and a suspension that leave it to go out later (OPS-).
// Seen to fail first: message suspend exited 1 (busy).
func TestOperatorActsOnMailWaitingForWindow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr, standbyAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sink := startGatedHost(t, sinkAddr, "sink.test")
	standby := startPlainHost(t, standbyAddr, "standby.test")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	editConfig(t, cfg, "    tls: none\n", "    tls: none\n    max_connections: 1\n")
	editConfig(t, cfg, "transport:\n", "transport:\n  connect_timeout: 5m\n")
	d := startUmbra(t, cfg, listen)
	defer d.kill()
	defer d.dumpLogIfFailed()
	if err := sendWaiting(listen, "first@example.org", "first"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.conns: // the window's one slot is taken
	case <-time.After(30 * time.Second):
		t.Fatal("no connection to the smart host")
	}
	for _, s := range []string{"suspend", "remove", "redirect"} {
		if err := sendWaiting(listen, s+"@example.org", s); err != nil {
			t.Fatal(err)
		}
	}
	waitCond(t, "three messages waiting for the window", 30*time.Second, func() bool { return sinkWaiting(t, cfg) == 3 })
	by := messagesBySender(t, cfg)
	// The dry run predicts what the action does (the same check).
	if out, code := cli(t, cfg, "message", "remove", "--dry-run", by["remove@example.org"].ID); code != 0 {
		t.Fatalf("message remove --dry-run of a message waiting for the window: exit %d\n%s", code, out)
	}
	if out, code := cli(t, cfg, "message", "suspend", by["suspend@example.org"].ID); code != 0 {
		t.Fatalf("message suspend of a message waiting for the window: exit %d\n%s", code, out)
	}
	if out, code := cli(t, cfg, "message", "remove", by["remove@example.org"].ID); code != 0 {
		t.Fatalf("message remove of a message waiting for the window: exit %d\n%s", code, out)
	}
	// The first message, in delivery (its connection waits), stays and
	// is counted: exit 4, run it again after its attempt (rt21c L4).
	out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", standbyAddr)
	if code != exitBusy || !strings.Contains(out, "1 message redirected") || !strings.Contains(out, "1 message in delivery stays in smarthost:sink") {
		t.Fatalf("queue redirect: exit %d\n%s", code, out)
	}
	waitCond(t, "the redirected message at the standby host", 30*time.Second, func() bool {
		_, bodies := standby.got()
		return len(bodies) == 1 && strings.Contains(bodies[0], "Subject: redirect\r\n")
	})
	// queue suspend: a message waiting for the window is held.
	if err := sendWaiting(listen, "held@example.org", "held"); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "one message waiting for the window", 30*time.Second, func() bool { return sinkWaiting(t, cfg) == 1 })
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d\n%s", code, out)
	}
	waitCond(t, "the waiting message held by the suspension", 30*time.Second, func() bool {
		m := messagesBySender(t, cfg)["held@example.org"]
		return m.State == "held" && sinkWaiting(t, cfg) == 0
	})
	by = messagesBySender(t, cfg)
	if m := by["suspend@example.org"]; m.State != "suspended" {
		t.Errorf("the suspended message: %q", m.State)
	}
	if _, ok := by["remove@example.org"]; ok {
		t.Errorf("the removed message still listed")
	}
	// The slow delivery ends: only its own message reached the old route.
	close(sink.gate)
	waitCond(t, "the first message delivered", 30*time.Second, func() bool {
		_, ok := messagesBySender(t, cfg)["first@example.org"]
		return !ok
	})
	time.Sleep(1500 * time.Millisecond) // more than a retry step (1s): nothing else follows
	if _, bodies := sink.got(); len(bodies) != 1 || !strings.Contains(bodies[0], "Subject: first\r\n") {
		t.Fatalf("the smart host got %d messages, want only the first", len(bodies))
	}
	by = messagesBySender(t, cfg)
	if by["suspend@example.org"].State != "suspended" || by["held@example.org"].State != "held" {
		t.Fatalf("after the slot freed: %q, %q", by["suspend@example.org"].State, by["held@example.org"].State)
	}
}

// queue list counts the first-attempt mail queued behind a destination's
// window under the destination's queue, as message list --queue finds
// it, not under submission (OPS-).
func TestQueueListCountsFirstAttemptsWaitingForWindow(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sink := startGatedHost(t, sinkAddr, "sink.test")
	defer close(sink.gate)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	editConfig(t, cfg, "    tls: none\n", "    tls: none\n    max_connections: 1\n")
	editConfig(t, cfg, "transport:\n", "transport:\n  connect_timeout: 5m\n")
	d := startUmbra(t, cfg, listen)
	defer d.kill()
	defer d.dumpLogIfFailed()
	for i, s := range []string{"first", "second", "third", "fourth"} {
		if err := sendWaiting(listen, s+"@example.org", s); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			select {
			case <-sink.conns:
			case <-time.After(30 * time.Second):
				t.Fatal("no connection to the smart host")
			}
		}
	}
	waitCond(t, "three messages waiting for the window", 30*time.Second, func() bool { return sinkWaiting(t, cfg) == 3 })
	out, code := cli(t, cfg, "queue", "list", "--json")
	var qs []queue.QueueInfo
	if code != 0 || json.Unmarshal([]byte(out), &qs) != nil {
		t.Fatalf("queue list: %d %s", code, out)
	}
	by := map[string]queue.QueueInfo{}
	for _, q := range qs {
		by[q.Name] = q
	}
	// Each as its job is: one delivering (active), three waiting for the
	// window (waiting), and the queue active.
	if s := by["smarthost:sink"]; s.Count != 4 || s.ByState["active"] != 1 || s.ByState["waiting"] != 3 || s.Status != "active" {
		t.Errorf("smarthost:sink: %d messages %v %s, want 1 active (delivering) and 3 waiting for the window\n%s", s.Count, s.ByState, s.Status, out)
	}
	var ms []admin.MessageView
	if out, _ := cli(t, cfg, "message", "list", "--json", "--state", "waiting"); json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 3 ||
		ms[0].Recipients[0].Status != "waiting" {
		t.Errorf("message list --state waiting: want the 3 waiting for the window, their recipient waiting\n%s", out)
	}
	if s, ok := by[queue.QueueSubmission]; ok && s.Count != 0 {
		t.Errorf("submission: %d messages %v, want none: they are in smarthost:sink\n%s", s.Count, s.ByState, out)
	}
	if out, _ := cli(t, cfg, "message", "list", "--json", "--queue", "smarthost:sink"); strings.Count(out, `"id"`) != 4 {
		t.Errorf("message list --queue smarthost:sink: want 4\n%s", out)
	}
}
