package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// An operator's command answers what it did: resume of a message that
// is not suspended (waiting for a retry, or held by its queue's
// suspension) is refused, not answered "resume" with nothing changed; a
// dry run predicts the refusals the action then answers; a quarantine
// command on a message that is not quarantined says so with the state
// every view shows, and exits 3 as quarantine show does — not 4, "in
// delivery, try again", which no retry would end.
func TestOperatorAnswersSayWhatHappens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink stays down: mail waits
	// A retry an hour away: the states below are read across several
	// commands, and a retry due in 1 s made "retry" read "ready" on a
	// loaded machine (CI run 71).
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedule: [1h]")
	startUmbra(t, cfg, listen)
	sendAll(t, nil, listen, "ops", 3, 1)
	var ms []admin.MessageView
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _ := cli(t, cfg, "message", "list", "--json", "--state", "retry")
		if json.Unmarshal([]byte(out), &ms); len(ms) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("three messages waiting for a retry: %s", out)
		}
	}
	waiting := ms[0].ID
	state := func(id string) string {
		t.Helper()
		out, code := cli(t, cfg, "message", "show", "--json", id)
		var v admin.MessageView
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("show %s: exit %d %s", id, code, out)
		}
		return v.State
	}

	// Resume of a message waiting for a retry: refused, exit 1.
	if code, errOut := cliErr(t, cfg, "message", "resume", waiting); code != exitFailure || !strings.Contains(errOut, "not suspended") {
		t.Errorf("resume of a message waiting for a retry: exit %d %q", code, errOut)
	}
	// Quarantine commands on it: not quarantined, in its shown state.
	for _, action := range []string{"release", "delete"} {
		out, code := cli(t, cfg, "queue", "quarantine", action, waiting)
		if code != exitNotFound || !strings.Contains(out, "not quarantined") || !strings.Contains(out, "is retry") {
			t.Errorf("quarantine %s of a message waiting for a retry: exit %d\n%s", action, code, out)
		}
	}
	if s := state(waiting); s != "retry" {
		t.Fatalf("the refused commands changed the message: %s", s)
	}

	// One message suspended, the queue suspended: a dry run of retry
	// and of resume predicts what the real run answers.
	if _, code := cli(t, cfg, "message", "suspend", ms[1].ID); code != 0 {
		t.Fatalf("suspend: exit %d", code)
	}
	if _, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d", code)
	}
	held := ms[2].ID
	if code, errOut := cliErr(t, cfg, "message", "resume", held); code != exitFailure || !strings.Contains(errOut, "queue resume smarthost:sink") {
		t.Errorf("resume of a message its queue's suspension holds: exit %d %q", code, errOut)
	}
	// By id too: the dry run answers the refusal the action gives.
	for _, id := range []string{held, ms[1].ID} {
		dryCode, dryErr := cliErr(t, cfg, "message", "retry", "--dry-run", id)
		code, errOut := cliErr(t, cfg, "message", "retry", id)
		if dryCode != code || code != exitFailure || dryErr != errOut {
			t.Errorf("retry --dry-run %s: exit %d %q; retry: exit %d %q", id, dryCode, dryErr, code, errOut)
		}
	}
	bulk := func(args ...string) (admin.BulkResult, int) {
		t.Helper()
		out, code := cli(t, cfg, append([]string{"--json", "message"}, args...)...)
		var res admin.BulkResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: exit %d %s", args, code, out)
		}
		return res, code
	}
	failedIDs := func(res admin.BulkResult) []string {
		var ids []string
		for _, f := range res.Failed {
			ids = append(ids, f.ID)
		}
		slices.Sort(ids)
		return ids
	}
	for _, action := range []string{"retry", "resume"} {
		dry, dryCode := bulk(action, "--all", "--dry-run")
		real, realCode := bulk(action, "--all")
		if !slices.Equal(failedIDs(dry), failedIDs(real)) || len(dry.Done) != len(real.Done) || dryCode != realCode {
			t.Errorf("%s --all: the dry run predicted done %v failed %v (exit %d); the action did %v, failed %v (exit %d)",
				action, dry.Done, failedIDs(dry), dryCode, real.Done, failedIDs(real), realCode)
		}
		// Nothing to do is a skip by reason, not a failure (rt17e-F5).
		skipped := 0
		for _, n := range real.Skipped {
			skipped += n
		}
		if action == "retry" && (len(real.Failed) != 0 || skipped != 3) {
			t.Errorf("retry --all with the message and the queue suspended: want 3 skipped by reason, none failed: %+v", real)
		}
	}
	// A typo of a queue's kind lists the queues the command takes — the
	// configured ones, also with nothing in them —, not those it refuses
	// (a dumpster: nothing is delivered from it).
	for _, action := range []string{"suspend", "resume", "retry"} {
		code, errOut := cliErr(t, cfg, "queue", action, "bogus:1")
		if code != exitNotFound || !strings.Contains(errOut, "smarthost:sink") || !strings.Contains(errOut, "mailbox:local") ||
			strings.Contains(errOut, "dumpster:") {
			t.Errorf("queue %s bogus:1: exit %d %q", action, code, errOut)
		}
	}
	// The resume --all left the suspended message suspended: its queue is
	// suspended too, and the refusal names the queue's resume first
	// (operatorcheck.go), so nothing says it goes again.
	if s := state(ms[1].ID); s != "suspended" {
		t.Errorf("the suspended message after resume --all: %s", s)
	}
}
