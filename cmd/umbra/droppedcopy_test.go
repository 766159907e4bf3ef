package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// An operator's forced removal of a shadow copy on the server that keeps
// it is told to the primary (shadow verbs 12, XQUERYDROPPED): hub-a, the
// primary of a message whose copy on receipt hub-b keeps, learns of the
// removal at its next holder probe, marks the message held by it only
// (logged) and makes the copy again; hub-b then holds it again. hub-a is
// then killed -9 for good: hub-b takes the copy over and the message
// reaches the outside, once. Before, the removal was silent: hub-a never
// made the copy again, and its loss lost the message.
func TestForcedCopyRemovalIsToldAndCopiedAgain(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	ha, hb := o.start(t)
	sink := startRecorder(t, o.sink)
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	o.sendCopied(t, "Subject: dropped\r\n\r\nhello\r\n")
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	var ms []admin.MessageView
	if out, _ := cli(t, o.cfgB, "message", "list", "--json"); json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		t.Fatalf("hub-b's messages: %s", out)
	}
	copyID := ms[0].ID
	ms = nil
	if out, _ := cli(t, o.cfgA, "message", "list", "--json"); json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		t.Fatalf("hub-a's messages: %s", out)
	}
	id := ms[0].ID

	// hub-b's operator removes the copy.
	if out, code := cli(t, o.cfgB, "message", "remove", "--force", copyID); code != 0 {
		t.Fatalf("remove --force of the copy on hub-b: exit %d\n%s", code, out)
	}
	// The copy removed is gone (a count of 0 would race with the copy
	// made again, which can come within the probe interval of 1 s).
	if _, code := cli(t, o.cfgB, "message", "show", copyID); code != exitNotFound {
		t.Fatalf("message show of the removed copy on hub-b: exit %d, want %d", code, exitNotFound)
	}
	// hub-a is told at its next probe (each heartbeat timeout, 1 s here),
	// marks the message and makes the copy again on hub-b.
	waitCond(t, "hub-a to log that it was told", 30*time.Second, func() bool {
		log, _ := os.ReadFile(ha.log)
		return strings.Contains(string(log), "shadow copy removed by the administrator of its holder") && strings.Contains(string(log), id)
	})
	waitCond(t, "hub-b to hold the copy made again", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	waitCond(t, "hub-a's mark to go", 30*time.Second, func() bool {
		out, _ := cli(t, o.cfgA, "message", "show", id)
		return !strings.Contains(out, "held by this server only")
	})
	// hub-b logs that it told hub-a once its reply is written: hub-a can
	// have acted on it, and the mark above gone, before the line.
	waitLogCount(t, hb, "primary told of shadow copies removed here by the administrator", 1)

	// hub-a is lost for good: hub-b's copy is the message.
	ha.kill()
	waitArrived(t, sink, []string{"dropped"}, hb)
	time.Sleep(2 * time.Second) // a second delivery still on its way would land now
	if n := sink.counts()["dropped"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
}
