package main

import (
	"os"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// F6: the queue list filter is checked whatever the server holds: a typo
// on an idle server (no queue at all) exits 3 with the valid statuses,
// as on a busy one, instead of "nothing matched"; and a `valid:` list names each queue once even when the queue
// exists and the configuration can produce it.
func TestCLIQueueFilterTypoWithNoQueues(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	raw, _ := os.ReadFile(cfg) // no dumpster: no queue at all
	os.WriteFile(cfg, []byte(strings.Replace(string(raw), "transport:\n", "transport:\n  max_dumpster_size_per_database: 0\n", 1)), 0o600)
	startUmbra(t, cfg, listen)
	if out, code := cli(t, cfg, "queue", "list", "--json"); code != 0 || strings.TrimSpace(out) != "null" {
		t.Fatalf("the server should hold no queue: exit %d %q", code, out)
	}
	for _, f := range []string{"status=suspneded", "type=bogus"} {
		code, stderr := cliErr(t, cfg, "queue", "list", "--filter", f)
		if code != exitNotFound || !strings.Contains(stderr, "valid:") {
			t.Errorf("queue list --filter %s with no queues: exit %d %q", f, code, stderr)
		}
	}
	if code, stderr := cliErr(t, cfg, "queue", "list", "--filter", "colour=red"); code != exitUsage {
		t.Errorf("unknown filter key with no queues: exit %d %q", code, stderr)
	}
	if out, code := cli(t, cfg, "queue", "list", "--json", "--filter", "status=suspended"); code != 0 || strings.TrimSpace(out) != "null" {
		t.Errorf("queue list --json with a valid filter and no queues: exit %d %q", code, out)
	}
	// mailbox:local exists (suspended) and is configured: named once.
	if code, stderr := cliErr(t, cfg, "queue", "suspend", "mailbox:local"); code != 0 {
		t.Fatalf("queue suspend mailbox:local: exit %d %s", code, stderr)
	}
	code, stderr := cliErr(t, cfg, "queue", "suspend", "mailbox:DB9")
	if code != exitNotFound || strings.Count(stderr, "mailbox:local") != 1 {
		t.Errorf("queue suspend mailbox:DB9: exit %d %q; want mailbox:local listed once", code, stderr)
	}
}

// The statuses queue list shows (and its filter takes) are the ones the
// README lists for it.
func TestQueueStatusesDocumented(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `umbra queue list [--filter") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("no queue list row in the README")
	}
	for _, s := range queue.QueueStatuses {
		if !strings.Contains(row, "`"+s+"`") {
			t.Errorf("README's queue list row does not name the status %s", s)
		}
	}
}

func TestUnknownNameListsEachOnce(t *testing.T) {
	e := &queue.UnknownNameError{Kind: "queue", Name: "mailbox:DB9", Valid: []string{"mailbox:DB1", "mailbox:DB1", "smarthost:a"}}
	if got := e.Error(); strings.Count(got, "mailbox:DB1") != 1 || !strings.Contains(got, "smarthost:a") {
		t.Fatalf("%s", got)
	}
}

// Queue actions on a queue nothing is delivered from (poison here) are
// refused with the command that acts on its messages, not answered
// "resume" while nothing changes.
func TestCLIQueueActionOnPoisonRefused(t *testing.T) {
	for _, name := range []string{"poison", "quarantine", "dumpster:DB1"} {
		for _, action := range []string{"suspend", "resume", "retry", "redirect"} {
			if err := queue.CheckQueueAction(name, action); err == nil {
				t.Errorf("%s %s accepted", action, name)
			}
		}
	}
	for _, name := range []string{"shadow:hub-b", "mx:example.org", "mailbox:DB1"} {
		for _, action := range []string{"suspend", "resume", "retry", "redirect"} {
			err := queue.CheckQueueAction(name, action)
			if refused := name == "shadow:hub-b" && action == "suspend"; refused != (err != nil) {
				t.Errorf("%s %s: %v", action, name, err)
			}
		}
	}
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)
	// A local delivery: dumpster:local then exists (the Maildir
	// database keeps a copy).
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"x@example.test"}, strings.NewReader("Subject: kept\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	waitCond(t, "a dumpster queue", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "list", "--json")
		return strings.Contains(out, `"dumpster:local"`)
	})
	for _, action := range []string{"suspend", "resume", "retry"} {
		code, stderr := cliErr(t, cfg, "queue", action, "dumpster:local")
		if code != exitFailure || !strings.Contains(stderr, "not delivered from") {
			t.Errorf("queue %s dumpster:local: exit %d %q", action, code, stderr)
		}
	}
}
