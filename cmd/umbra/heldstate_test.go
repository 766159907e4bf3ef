package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// rt18 F3: while a queue is suspended its messages are shown "held",
// with the queue that holds them, by every view: message list (text and
// JSON), message show, the --state filter and queue list's counts —
// never "ready" beside a queue that says "suspended".
func TestCLIHeldMessagesOfSuspendedQueue(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: the message waits
	metricsAddr := withMetrics(t, cfg)
	startUmbra(t, cfg, listen)
	if acked := sendMany(listen, "held", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("acknowledged %d", len(acked))
	}
	waitCond(t, "the message to wait in smarthost:sink", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json", "--queue", "smarthost:sink")
		return strings.Contains(out, `"state"`)
	})
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	// A retry that fell due claims the message (active) and puts it
	// back held: wait for that, at once in all but a loaded run.
	var ms []admin.MessageView
	waitCond(t, "the message to be held", 30*time.Second, func() bool {
		out, code := cli(t, cfg, "message", "list", "--json")
		ms = nil
		return code == 0 && json.Unmarshal([]byte(out), &ms) == nil && len(ms) == 1 && ms[0].State != "active"
	})
	m := ms[0]
	if m.State != "held" || !strings.Contains(m.Held, "smarthost:sink is suspended") || !m.NextAttempt.IsZero() ||
		len(m.Recipients) != 1 || m.Recipients[0].Status != "held" {
		t.Errorf("message list --json while the queue is suspended: %+v", m)
	}
	// The retry pending at the suspension (every second here) still
	// claims the message once and parks it (hold): for that moment it is
	// "active" in every view, so each view is read until it shows the
	// held message — "ready" or "retry" would never turn into it.
	heldIn := func(what string, ok func() (string, bool)) {
		t.Helper()
		var out string
		deadline := time.Now().Add(30 * time.Second)
		for {
			var good bool
			if out, good = ok(); good {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%s:\n%s", what, out)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	heldIn("message list", func() (string, bool) {
		out, _ := cli(t, cfg, "message", "list")
		return out, strings.Contains(out, " held ") && !strings.Contains(out, " ready ")
	})
	// rt24c F14: --json and show give the fact the table's LAST ERROR
	// column gives: last_error names the hold (and held too), then the
	// reply the next hop gave before it (dsnlast47: the hold hid it);
	// the recipient's last reply says both too.
	hold := "queue smarthost:sink is suspended (umbra queue resume smarthost:sink)"
	heldIn("message list --json last_error", func() (string, bool) {
		out, _ := cli(t, cfg, "message", "list", "--json")
		ms = nil
		json.Unmarshal([]byte(out), &ms)
		return out, len(ms) == 1 && ms[0].State == "held" &&
			strings.HasPrefix(ms[0].LastError, hold+"; last reply: 4") && ms[0].Held == hold &&
			len(ms[0].Recipients) == 1 && strings.HasPrefix(ms[0].Recipients[0].LastReply, "4")
	})
	heldIn("message list, the next hop's reply first", func() (string, bool) {
		out, _ := cli(t, cfg, "message", "list")
		last := strings.TrimPrefix(ms[0].LastError, hold+"; last reply: ")
		return out, len(ms) == 1 && strings.Contains(out, " held ") && strings.Contains(out, last[:min(len(last), 30)])
	})
	heldIn("message show", func() (string, bool) {
		out, _ := cli(t, cfg, "message", "show", m.ID)
		return out, strings.Contains(out, "state:      held") &&
			strings.Contains(out, "last error: "+hold+"; last reply: 4") &&
			strings.Count(out, "is suspended (umbra queue resume") == 1
	})
	heldIn("message list --state held", func() (string, bool) {
		out, code := cli(t, cfg, "message", "list", "--state", "held")
		return out, code == 0 && strings.Contains(out, m.ID)
	})
	if out, code := cli(t, cfg, "message", "list", "--state", "ready", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("message list --state ready selects a held message: exit %d\n%s", code, out)
	}
	heldIn("queue list --json, smarthost:sink suspended with its message held", func() (string, bool) {
		out, _ := cli(t, cfg, "queue", "list", "--json")
		var qs []queue.QueueInfo
		json.Unmarshal([]byte(out), &qs)
		for _, q := range qs {
			if q.Name == "smarthost:sink" {
				return out, q.Status == "suspended" && q.ByState["held"] == 1 && len(q.ByState) == 1
			}
		}
		return out, false
	})
	// The metrics count it as queue list does: held, not ready or retry.
	heldIn("metrics: held 1, ready 0, retry 0", func() (string, bool) {
		scraped, err := scrapeMetrics(metricsAddr)
		if err != nil {
			return err.Error(), false
		}
		for _, want := range []string{`umbra_queue_messages{queue_type="smtp-smart-host",state="held"} 1`,
			`umbra_queue_messages{queue_type="smtp-smart-host",state="ready"} 0`,
			`umbra_queue_messages{queue_type="smtp-smart-host",state="retry"} 0`} {
			if !strings.Contains(scraped, want) {
				return grepLines(scraped, "umbra_queue_messages"), false
			}
		}
		return "", true
	})
	// Resumed, the message waits as before: not held.
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 {
		t.Fatalf("resume: exit %d %s", code, out)
	}
	if out, _ := cli(t, cfg, "message", "show", m.ID); strings.Contains(out, "state:      held") || strings.Contains(out, "held:") {
		t.Errorf("message show after resume:\n%s", out)
	}
}
