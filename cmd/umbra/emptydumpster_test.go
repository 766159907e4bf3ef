package main

import (
	"strings"
	"testing"
)

// OPS-5, Q-2: the dumpster of a configured mailbox database is a queue
// the message commands take whether or not it keeps a copy now, as
// umbra dumpster lists it at 0 and queue list names it once it keeps
// one (rt21c L3: a configured queue found empty, not refused as a
// typo): message list --queue dumpster:local answers, exit 0, and says
// where its copies are listed (dumpster list --database local; a copy
// is no queued message); a dumpster of a database neither configured
// nor keeping copies is an unknown queue, exit 3, naming the one that
// is. The queue actions refuse a dumpster as before: nothing is
// delivered from it. So are a server's submission and unreachable
// queues, empty or not (as poison is).
func TestOPSEmptyDumpsterIsAQueue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.158"), freeAddr(t, "127.0.0.158")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	if out, code := cli(t, cfg, "dumpster", "list"); code != 0 || !strings.Contains(out, "local") {
		t.Fatalf("dumpster list: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"message", "list", "--queue", "dumpster:local"},
		{"message", "list", "--queue", "dumpster:local", "--json"},
		{"message", "remove", "--queue", "dumpster:local", "--dry-run"},
		// Siblings: the queues of every server, empty now.
		{"message", "list", "--queue", "unreachable"},
		{"message", "list", "--queue", "submission"},
		{"message", "retry", "--queue", "unreachable"},
	} {
		out, errOut, code := cliAll(t, cfg, args...)
		if code != 0 || strings.Contains(errOut, "no queue") {
			t.Errorf("%v: exit %d, want 0\n%s%s", args, code, out, errOut)
		}
		if args[3] == "dumpster:local" && args[1] == "list" && !strings.Contains(errOut, "umbra dumpster list --database local") {
			t.Errorf("%v: does not say where the dumpster's copies are listed:\n%s%s", args, out, errOut)
		}
	}
	if _, errOut, _ := cliAll(t, cfg, "message", "list", "--queue", "unreachable"); strings.Contains(errOut, "dumpster") {
		t.Errorf("message list --queue unreachable speaks of a dumpster:\n%s", errOut)
	}
	// directory is a queue only while the directory assigns databases.
	if _, errOut, code := cliAll(t, cfg, "message", "list", "--queue", "directory"); code != exitNotFound || !strings.Contains(errOut, `no queue "directory"`) {
		t.Errorf("message list --queue directory without a directory: exit %d, want %d\n%s", code, exitNotFound, errOut)
	}
	_, errOut, code := cliAll(t, cfg, "message", "list", "--queue", "dumpster:nosuchdb")
	if code != exitNotFound || !strings.Contains(errOut, `no queue "dumpster:nosuchdb"`) || !strings.Contains(errOut, "dumpster:local") {
		t.Errorf("message list --queue dumpster:nosuchdb: exit %d, want %d naming dumpster:local\n%s", code, exitNotFound, errOut)
	}
	for _, action := range []string{"suspend", "retry"} {
		if code, stderr := cliErr(t, cfg, "queue", action, "dumpster:local"); code != exitFailure || !strings.Contains(stderr, "not delivered from") {
			t.Errorf("queue %s dumpster:local: exit %d %q", action, code, stderr)
		}
	}
}

// submission and unreachable are queues the queue actions take
// while they are empty (a suspension ahead of maintenance, as the
// README's queue suspend says): a suspension of submission holds new
// mail before its first attempt, shown held in submission, and resume
// releases it; unreachable is suspended and resumed alike. A name in
// another letter case is no queue: the daemon names them in lower case.
func TestOPSSuspendOfEmptySubmissionHoldsNewMail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.158"), freeAddr(t, "127.0.0.158")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	for _, q := range []string{"submission", "unreachable"} {
		if out, code := cli(t, cfg, "queue", "suspend", q); code != 0 {
			t.Fatalf("queue suspend %s (empty): exit %d\n%s", q, code, out)
		}
	}
	if code, stderr := cliErr(t, cfg, "queue", "suspend", "Unreachable"); code != exitNotFound {
		t.Errorf("queue suspend Unreachable: exit %d, want %d\n%s", code, exitNotFound, stderr)
	}
	if ok, err := send(listen, "held in submission"); !ok {
		t.Fatalf("send: %v", err)
	}
	out, code := cli(t, cfg, "message", "list", "--queue", "submission", "--state", "held")
	if code != 0 || !strings.Contains(out, "b@remote.example") {
		t.Fatalf("the message is not held in the suspended submission queue: exit %d\n%s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "resume", "submission"); code != 0 || !strings.Contains(out, "1 message") {
		t.Errorf("queue resume submission: exit %d\n%s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "resume", "unreachable"); code != 0 {
		t.Errorf("queue resume unreachable: exit %d\n%s", code, out)
	}
}
