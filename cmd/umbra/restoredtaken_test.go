package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-7 after `umbra db restore` (README, Backup and restore): hub-a holds
// messages whose copies on receipt hub-b keeps; their way out (the sink)
// is down. A backup of hub-a is taken and restored at once — nothing was
// delivered between. The restored database presents a new database id, so
// hub-b takes over every copy it keeps for hub-a; the restored database
// holds the same messages as originals. Its start asks hub-b about the
// copies taken over from the database it was restored from (XQUERYTAKENDONE
// … FROM=, shadow verbs 22) before its first delivery, and leaves them to
// hub-b: each message reaches the sink once, not once from each hub.
func TestSR7RestoredPrimaryLeavesCopiesTakenOverToTheirHolder(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "remote-only", false)
	ha, hb := o.start(t)
	hb.dumpLogIfFailed()
	var subjects []string
	for i := range 3 {
		subj := fmt.Sprintf("restored-%d", i)
		if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: "+subj+"\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") ||
			!strings.Contains(reply, "shadow copy on hub-b") {
			t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
		}
		subjects = append(subjects, subj)
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 3 })
	backup := filepath.Join(o.dir, "a.bak")
	if out, code := cli(t, o.cfgA, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d\n%s", code, out)
	}
	ha.kill()
	if out, code := cli(t, o.cfgA, "db", "restore", backup); code != 0 {
		t.Fatalf("db restore: exit %d\n%s", code, out)
	}
	// The way out is back as hub-a starts: its first delivery would go
	// at once, before hub-b's next heartbeat meets the new database.
	sink := startRecorder(t, o.sink)
	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	for _, cfg := range []string{o.cfgA, o.cfgB} {
		cli(t, cfg, "queue", "flush")
	}
	waitArrived(t, sink, subjects, hb)
	time.Sleep(3 * time.Second) // a second copy on its way would land now
	for _, s := range subjects {
		if n := sink.counts()[s]; n != 1 {
			t.Errorf("%s reached the sink %d times, want 1", s, n)
		}
	}
	// The restored hub-a left them to hub-b: none stays queued there for
	// delivery (hub-a may keep hub-b's copies of them: shadow:hub-b).
	waitCond(t, "hub-a's delivery queues to empty", 30*time.Second, func() bool {
		n := 0
		for q, c := range p.queued(t, o.cfgA) {
			if !strings.HasPrefix(q, "shadow:") {
				n += c
			}
		}
		return n == 0
	})
	if b, _ := os.ReadFile(ha.log); !bytes.Contains(b, []byte("taken over by hub-b, which delivers it from there")) &&
		!bytes.Contains(b, []byte("recipient finished by the shadow server that took the copy over")) {
		t.Error("hub-a's log does not say hub-b took the copies over")
	}
}
