package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rt20f-F2: a primary that hangs (SIGSTOP) past the takeover delay and
// then runs on asks its holders what they finished before its next
// attempt, as a start does: hub-a's retry of a message hub-b took over
// and failed (its failure DSN sent) is not attempted again, and the
// sender gets one failure DSN, not two.
func TestResumedPrimaryAsksHoldersBeforeRetry(t *testing.T) {
	t.Parallel()
	resumedPrimaryAsksHolders(t, newReceiptHubs(t, "remote-only", false))
}

// rt39 F2: the settings are each server's own. hub-a's would let a
// holder take over only after 29 s of silence (shadow_heartbeat_retry_count
// 30), hub-b takes over after its 3 failed heartbeats, a second apart.
// hub-a, stalled past hub-b's bound but far below its own, still asks
// before its next attempt: one failure DSN, not two.
func TestResumedPrimaryAsksHoldersWithShorterBoundThanItsOwn(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "remote-only", false)
	editConfig(t, o.cfgA, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 30")
	resumedPrimaryAsksHolders(t, o)
}

func resumedPrimaryAsksHolders(t *testing.T, o *receiptHubs) {
	ha, _ := o.start(t)
	ha.dumpLogIfFailed()
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: stalled\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	waitCond(t, "hub-a's first attempt to defer", 30*time.Second, func() bool {
		out, _ := cli(t, o.cfgA, "track", "--json", "--event", "defer")
		return strings.Contains(out, `"event": "defer"`)
	})
	if err := ha.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			ha.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, o.cfgB, "track", "--json", "--event", "takeover")
		return strings.Contains(out, `"event": "takeover"`)
	})
	sink := startRefusingSink(t, o.sink, "x@remote.example")
	waitCond(t, "hub-b's failure DSN to reach the sender", 60*time.Second, func() bool { return len(sink.to("a@example.org")) == 1 })
	waitCond(t, "hub-b's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, o.cfgB)) == 0 })
	time.Sleep(2 * time.Second) // hub-a's retry is overdue by more than the takeover delay
	if err := ha.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	waitCond(t, "hub-a's queue to empty", 60*time.Second, func() bool {
		n := 0
		for _, c := range p.queued(t, o.cfgA) {
			n += c
		}
		return n == 0
	})
	time.Sleep(2 * time.Second) // a second DSN on its way would land now
	if got := sink.to("a@example.org"); len(got) != 1 {
		t.Fatalf("the sender got %d failure DSNs for x@remote.example, want 1", len(got))
	}
	if b, _ := os.ReadFile(ha.log); !bytes.Contains(b, []byte("this server did not run for longer than a shadow server may wait")) {
		t.Error("hub-a's log does not say it noticed the stall")
	}
}
