package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// rt28 F3/F4: the queue actions say what they did, with an honest exit
// code. poison and quarantine are refused (exit 1, naming the command
// that acts on their messages) whether or not a message is in them; a
// queue the configuration can produce is a name suspend, resume and
// retry all take (nothing in it: 0 due); a retry of a suspended queue
// or of a message it holds is refused (exit 1, naming the resume),
// since it would attempt nothing.
func TestCLIQueueActionsSayWhatTheyDid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1") // nothing listens at sinkAddr: deferred
	cfg := relayConfig(t, dir, listen, sinkAddr)
	// A retry an hour away: the message is read before and after a
	// resume that releases nothing, and a retry due in 1 s attempted it
	// in between on a loaded machine (CI run 76: attempts 1, then 2).
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedule: [1h]")
	startUmbra(t, cfg, listen)
	for _, name := range []string{"poison", "quarantine"} {
		for _, action := range []string{"suspend", "resume", "retry"} {
			code, stderr := cliErr(t, cfg, "queue", action, name)
			if code != exitFailure || !strings.Contains(stderr, "not delivered from") {
				t.Errorf("queue %s %s (empty): exit %d %q, want 1 naming what acts on its messages", action, name, code, stderr)
			}
		}
	}
	if out, code := cli(t, cfg, "queue", "retry", "smarthost:sink"); code != 0 || !strings.Contains(out, "0 messages") {
		t.Errorf("queue retry of an empty queue that can exist: exit %d %q", code, out)
	}
	// rt18e-F4: a resume of a queue not suspended releases nothing.
	if code, stderr := cliErr(t, cfg, "queue", "resume", "smarthost:sink"); code != exitFailure ||
		!strings.Contains(stderr, "smarthost:sink is not suspended: nothing to release") || strings.Contains(stderr, "to the message") {
		t.Errorf("queue resume of a queue not suspended: exit %d %q, want 1, nothing to release", code, stderr)
	}
	if code, stderr := cliErr(t, cfg, "queue", "resume", "smarthost:nosuch"); code != exitNotFound {
		t.Errorf("queue resume of a name the configuration cannot produce: exit %d %q, want %d", code, stderr, exitNotFound)
	}

	id := sendDeferred(t, cfg, listen)
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	// OPS-42 item 1: a second suspend has nothing to do and is refused,
	// exit 1, as a second resume is below.
	if code, stderr := cliErr(t, cfg, "queue", "suspend", "smarthost:sink"); code != exitFailure ||
		!strings.Contains(stderr, "smarthost:sink is already suspended: nothing to suspend (umbra queue resume smarthost:sink releases it)") {
		t.Errorf("a second suspend: exit %d %q, want 1, nothing to suspend", code, stderr)
	}
	code, stderr := cliErr(t, cfg, "queue", "retry", "smarthost:sink")
	if code != exitFailure || !strings.Contains(stderr, "umbra queue resume smarthost:sink") {
		t.Errorf("queue retry of a suspended queue: exit %d %q, want 1 naming the resume", code, stderr)
	}
	code, stderr = cliErr(t, cfg, "message", "retry", id)
	if code != exitFailure || !strings.Contains(stderr, "umbra queue resume smarthost:sink") {
		t.Errorf("message retry of a held message: exit %d %q, want 1 naming the resume", code, stderr)
	}
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 || !strings.Contains(out, "1 message") {
		t.Errorf("resume: exit %d %q", code, out)
	}
	before, _ := cli(t, cfg, "message", "show", id, "--json")
	if code, stderr := cliErr(t, cfg, "queue", "resume", "smarthost:sink"); code != exitFailure || !strings.Contains(stderr, "nothing to release") {
		t.Errorf("a second resume: exit %d %q, want 1, nothing to release", code, stderr)
	}
	if after, _ := cli(t, cfg, "message", "show", id, "--json"); after != before && strings.Contains(before, id) {
		t.Errorf("a resume that released nothing changed the message:\n%s\n%s", before, after)
	}
}

// sendDeferred sends one message to x@elsewhere.example through listen
// and returns its id once its first attempt was deferred (the only
// message of the queue).
func sendDeferred(t *testing.T, cfg, listen string) string {
	t.Helper()
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"x@elsewhere.example"}, strings.NewReader("Subject: held\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	id := ""
	waitCond(t, "the deferral", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var ms []struct {
			ID       string `json:"id"`
			Attempts int    `json:"attempts"`
		}
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 || ms[0].Attempts == 0 {
			return false
		}
		id = ms[0].ID
		return true
	})
	return id
}
