package main

import (
	"strings"
	"testing"
	"time"
)

// rt21c L3: one rule for what names a queue in every command — a queue
// the configuration can produce, or one that holds a message now — and
// one list of valid names with its refusal. A configured queue that has
// drained is no typo: message list --queue and message remove --queue
// (a cron job) find nothing in it, exit 0, as queue retry does; a typo
// is exit 3 with the same "valid:" list from every command.
func TestEmptyConfiguredQueueIsAQueueEverywhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1")) // the smart host is down
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %s", code, out)
	}
	if ok, err := send(listen, "drained"); !ok {
		t.Fatalf("send: %v", err)
	}
	// The message leaves smarthost:sink for a redirect queue: sink is
	// configured and empty, the redirect queue holds the message.
	other := reserveAddr(t, "127.0.0.1")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", other)
		if code == 0 && strings.Contains(out, "1 message") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue redirect: exit %d %s", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 {
		t.Fatalf("queue resume: exit %d %s", code, out)
	}
	for _, args := range [][]string{
		{"message", "list", "--queue", "smarthost:sink"},
		{"message", "remove", "--queue", "smarthost:sink", "--dry-run"},
		{"message", "suspend", "--queue", "smarthost:sink"},
		{"queue", "retry", "smarthost:sink"},
	} {
		if code, errOut := cliErr(t, cfg, args...); code != 0 {
			t.Errorf("umbra %s on a configured queue that drained: exit %d %q; want 0 (nothing in it)", strings.Join(args, " "), code, errOut)
		}
	}
	valid := ""
	for _, args := range [][]string{
		{"message", "list", "--queue", "smarthost:sinkk"},
		{"message", "remove", "--queue", "smarthost:sinkk", "--dry-run"},
		{"queue", "suspend", "smarthost:sinkk"},
		{"queue", "retry", "smarthost:sinkk"},
		{"queue", "resume", "smarthost:sinkk"},
		{"queue", "redirect", "smarthost:sinkk", "--to", other},
	} {
		code, errOut := cliErr(t, cfg, args...)
		_, list, _ := strings.Cut(errOut, "valid: ")
		list = strings.TrimSpace(list)
		if code != exitNotFound || !strings.Contains(errOut, `no queue "smarthost:sinkk"`) || !strings.Contains(list, "smarthost:sink") {
			t.Errorf("umbra %s: exit %d %q; want exit %d, no queue, smarthost:sink among the valid names", strings.Join(args, " "), code, errOut, exitNotFound)
		}
		if valid == "" {
			valid = list
		} else if list != valid {
			t.Errorf("umbra %s lists valid: %s\nwhere message list lists: %s", strings.Join(args, " "), list, valid)
		}
	}
}
