package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// rt48 F2: hub-a's record of a message whose shadow copy hub-b holds is
// damaged on the disk past its head (its recipient overwritten) while
// hub-a is down. hub-a's start sets the record aside and gives the
// message to hub-b (the log line names hub-b), which takes its copy
// over and delivers it: the outside gets it once, and neither hub keeps
// anything — no damaged record left on hub-a, no orphan copy on hub-b.
func TestDamagedRecordGivenToCopyHolder(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	ha, hb := o.start(t)
	sink := startRecorder(t, o.sink)
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	body := "From: a@example.org\r\nSubject: dmgrec\r\n\r\nhello\r\n"
	o.sendCopied(t, body)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	var ms []admin.MessageView
	out, _ := cli(t, o.cfgA, "message", "list", "--json")
	if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		t.Fatalf("hub-a's messages: %s", out)
	}
	id, err := queue.ParseID(ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	ha.kill()

	// Every stored copy of the record (free pages may hold earlier ones)
	// gets its last 12 bytes — its recipient's fields — overwritten.
	live := filepath.Join(o.dataA, "queue.db")
	s, err := queue.Open(live, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rec []byte
	s.View(func(tx *queue.Tx) error { rec = tx.RawRecord(id); return nil })
	s.Close()
	if len(rec) < 40 {
		t.Fatalf("hub-a's record of %s: %d bytes", id, len(rec))
	}
	bad := bytes.Clone(rec)
	copy(bad[len(bad)-12:], bytes.Repeat([]byte{0xff}, 12))
	file, _ := os.ReadFile(live)
	if n := bytes.Count(file, rec); n == 0 {
		t.Fatal("the record is not in the file")
	}
	if err := os.WriteFile(live, bytes.ReplaceAll(file, rec, bad), 0o600); err != nil {
		t.Fatal(err)
	}

	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	waitCond(t, "hub-a's start to give the damaged record to hub-b", 30*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return bytes.Contains(b, []byte("hub-b holds a sound shadow copy of it and is given the message"))
	})
	waitArrived(t, sink, []string{"dmgrec"}, hb)
	waitCond(t, "both hubs to be empty", 60*time.Second, func() bool {
		n := 0
		for _, cfg := range []string{o.cfgA, o.cfgB} {
			for _, c := range p.queued(t, cfg) {
				n += c
			}
		}
		return n == 0
	})
	if out, _ := cli(t, o.cfgA, "message", "list", "--state", "damaged"); strings.Contains(out, id.String()) {
		t.Errorf("hub-a still lists the damaged record:\n%s", out)
	}
	time.Sleep(2 * time.Second) // a second delivery still on its way would land now
	if n := sink.counts()["dmgrec"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
	if out, ok := trackedWithin(t, o.cfgA, `"reply": "given to hub-b`, "--event", "giveback"); !ok {
		t.Errorf("hub-a's tracking log has no giveback event naming hub-b: %s", out)
	}
}
