package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// rt43 F4: a message whose body is damaged here (its spool file cut
// short) while hub-b holds a sound shadow copy of it. `message show`
// names the copy's holder; `message remove` without --force is refused
// (it would discard the only sound copy with the damaged original); the
// attempt that finds the body unreadable gives the message to hub-b,
// which takes its copy over and delivers it: the outside gets it once,
// and neither hub keeps anything.
func TestPoisonBodyGivenToCopyHolder(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	_, hb := o.start(t)
	sink := startRecorder(t, o.sink)
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	body := "From: a@example.org\r\nSubject: giveback\r\n\r\n" + strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz 0123456789\r\n", 12000) // 600 kB: past spool_threshold
	o.sendCopied(t, body)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	var ms []admin.MessageView
	out, _ := cli(t, o.cfgA, "message", "list", "--json")
	if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		t.Fatalf("hub-a's messages: %s", out)
	}
	id := ms[0].ID
	out, code := cli(t, o.cfgA, "message", "show", "--json", id)
	var v admin.MessageView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Spool == nil || v.Spool.File == "" {
		t.Fatalf("show --json: exit %d %s", code, out)
	}
	if v.ShadowCopy != "hub-b" {
		t.Errorf("show --json names the copy's holder %q, want hub-b", v.ShadowCopy)
	}
	if out, _ := cli(t, o.cfgA, "message", "show", id); !strings.Contains(out, "copy:       on hub-b") {
		t.Errorf("show does not name the copy's holder:\n%s", out)
	}

	// One failure: the spool file is cut short here.
	if err := os.Truncate(filepath.Join(o.dataA, "spool", v.Spool.File), 1000); err != nil {
		t.Fatal(err)
	}
	code, out = cliErr(t, o.cfgA, "message", "remove", id)
	if code == 0 || !strings.Contains(out, "hub-b holds a shadow copy") || !strings.Contains(out, "--force") {
		t.Fatalf("remove of a damaged message whose sound copy is on hub-b: exit %d\n%s", code, out)
	}
	if s, _ := p.held(t, o.cfgB, "hub-a"); s != 1 {
		t.Fatalf("hub-b holds %d copies after the refused remove, want 1", s)
	}

	// The attempt finds the body unreadable: hub-b gets the message.
	if _, code := cli(t, o.cfgA, "queue", "resume", "smarthost:out"); code != 0 {
		t.Fatal("resume smarthost:out on hub-a")
	}
	waitArrived(t, sink, []string{"giveback"}, hb)
	waitCond(t, "both hubs to be empty", 60*time.Second, func() bool {
		return len(p.queued(t, o.cfgA)) == 0 && len(p.queued(t, o.cfgB)) == 0
	})
	time.Sleep(2 * time.Second) // a second copy still on its way would land now
	if n := sink.counts()["giveback"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
	sink.mu.Lock()
	got := sink.bodies["giveback"]
	sink.mu.Unlock()
	if !strings.HasSuffix(strings.TrimRight(got, "\r\n"), strings.TrimRight(body, "\r\n")) {
		t.Errorf("the outside got %d bytes, not the whole message (%d)", len(got), len(body))
	}
	if out, _ := cli(t, o.cfgA, "track", "--json", "--event", "giveback", "--sender", "a@example.org"); !strings.Contains(out, `"reply": "given to hub-b`) {
		t.Errorf("hub-a's tracking log has no giveback event naming hub-b: %s", out)
	}
}
