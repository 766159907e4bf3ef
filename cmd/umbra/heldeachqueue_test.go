package main

import (
	"strings"
	"testing"
)

// rt36 F2 (Q-3, Q-4, OPS-3): a queue whose messages were each held
// (message suspend) shows "suspended" in queue list; queue resume
// answered "is not suspended: nothing to release (umbra queue retry …
// attempts its messages now)", queue retry "0 messages due now", exit 0,
// and a suspend and resume of the queue "(0 messages due now)", the
// queue still shown suspended — none named message resume --queue,
// the command that releases them. queue list says the queue is
// suspended message by message; resume and retry refuse (exit 1) saying
// the messages are held one by one and naming it; a resume of the queue
// suspended as a queue says they stay held.
func TestCLIQueueOfMessagesHeldEachSaysSo(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := "127.0.0.165:8501", "127.0.0.165:8502" // nothing listens at sinkAddr: deferred
	cfg := relayConfig(t, dir, listen, sinkAddr)
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedule: [1h]")
	startUmbra(t, cfg, listen)
	id := sendDeferred(t, cfg, listen)
	if out, code := cli(t, cfg, "message", "suspend", id); code != 0 {
		t.Fatalf("message suspend: exit %d %s", code, out)
	}
	const q = "smarthost:sink"
	const names = "umbra message resume --queue " + q
	if out, code := cli(t, cfg, "queue", "list"); code != 0 || !strings.Contains(out, q+": suspended message by message, not as a queue: 1 message held one by one") ||
		!strings.Contains(out, names) {
		t.Errorf("queue list: exit %d %q; want a line saying %s is suspended message by message, naming %q", code, out, q, names)
	}
	for _, action := range []string{"resume", "retry"} {
		code, stderr := cliErr(t, cfg, "queue", action, q)
		if code != exitFailure || !strings.Contains(stderr, "its 1 message is held (message suspend)") || !strings.Contains(stderr, names) {
			t.Errorf("queue %s: exit %d %q; want 1, saying its message is held one by one and naming %q", action, code, stderr, names)
		}
	}
	if out, code := cli(t, cfg, "queue", "suspend", q); code != 0 {
		t.Fatalf("queue suspend: exit %d %s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "resume", q); code != 0 || !strings.Contains(out, "1 message held one by one (message suspend) stays held") || !strings.Contains(out, names) {
		t.Errorf("queue resume of the suspended queue: exit %d %q; want 0, saying its message stays held, naming %q", code, out, names)
	}
	if out, code := cli(t, cfg, "message", "resume", "--queue", q); code != 0 {
		t.Errorf("%s: exit %d %q", names, code, out)
	}
}
