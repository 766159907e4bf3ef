package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/admin"
)

// rt18e-F2: `redirect:[::1]` and `redirect:::1` are one queue: a
// suspension of either form holds the mail a redirect in the other form
// moves, queue list shows one row, and message list finds it by either
// form. Nothing is sent to ::1: the queue is suspended.
func TestRedirectQueueOneNamePerTarget(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1") // nothing listens at sinkAddr: deferred
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"x@elsewhere.example"}, strings.NewReader("Subject: r\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	waitCond(t, "the deferral", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var ms []admin.MessageView
		return json.Unmarshal([]byte(out), &ms) == nil && len(ms) == 1 && ms[0].Attempts > 0
	})
	if out, code := cli(t, cfg, "queue", "suspend", "redirect:[::1]"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", "::1"); code != 0 || !strings.Contains(out, "1 message redirected") {
		t.Fatalf("redirect: exit %d %s", code, out)
	}
	out, _ := cli(t, cfg, "queue", "list", "--json")
	var qs []struct {
		Name, Status string
	}
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		t.Fatalf("queue list: %v %s", err, out)
	}
	var rows []string
	for _, q := range qs {
		if strings.HasPrefix(q.Name, "redirect:") {
			rows = append(rows, q.Name+" "+q.Status)
		}
	}
	if len(rows) != 1 || rows[0] != "redirect:[::1] suspended" {
		t.Fatalf("redirect queues listed: %q, want one, redirect:[::1] suspended", rows)
	}
	for _, name := range []string{"redirect:[::1]", "redirect:::1"} {
		out, _ := cli(t, cfg, "message", "list", "--json", "--queue", name)
		var ms []admin.MessageView
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 || ms[0].State != "held" {
			t.Errorf("message list --queue %s: %s, want the held message", name, out)
		}
	}
	if out, code := cli(t, cfg, "queue", "resume", "redirect:::1"); code != 0 || !strings.Contains(out, "1 message") {
		t.Errorf("resume by the other form: exit %d %s", code, out)
	}
}
