package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-7 (life F3 of an outside check): the operator of hub-b, which
// keeps the shadow copies of hub-a's messages, stops it and copies back
// an older queue.db — a file copy, not umbra db restore: no new database
// id, no rollback mark. hub-b no longer holds the copies it acknowledged
// after that file was taken, and hub-a's records still named it their
// holder: when hub-a was then lost for good, the messages were nowhere.
// hub-a's holder probe now asks hub-b which of the copies its records
// name are kept there (shadow verbs 23, XQUERYKEPT); a copy missing from
// two answers a probe interval apart marks its message held by hub-a
// only ("rolled back"), and the pass makes the copy again. Then hub-a is
// killed -9 for good: hub-b takes the copies over and every message
// reaches the outside, once.
func TestRolledBackHolderFileCopiesAreMadeAgain(t *testing.T) {
	t.Parallel()
	o := &receiptHubs{dir: t.TempDir(), a: addrInRange(t, "127.0.0.120", 7000, 500), b: addrInRange(t, "127.0.0.120", 7000, 500),
		sink: reserveAddr(t, "127.0.0.120")}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoPath, "0s", "")
	ha, hb := o.start(t)
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	p := &shadowPair{}

	// The operator's older file: hub-b's database before the messages.
	hb.kill()
	older := filepath.Join(o.dir, "queue.db.older")
	copyFileTo(t, filepath.Join(o.dataB, "queue.db"), older)
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()

	subjects := sendCopiesOnB(t, p, o.a, o.cfgB, "kept", 3)

	// hub-b stopped, the older file copied back, hub-b started.
	hb.kill()
	copyFileTo(t, older, filepath.Join(o.dataB, "queue.db"))
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()
	if s, _ := p.held(t, o.cfgB, "hub-a"); s != 0 {
		t.Fatalf("hub-b holds %d copies after the older file came back, want 0", s)
	}

	// hub-a's probes (each second here) find the copies missing twice,
	// ten seconds apart at least (the copier's bound), mark the messages
	// and make the copies again on hub-b.
	waitCond(t, "hub-a to log the copies missing on their rolled-back holder", 60*time.Second, func() bool {
		log, _ := os.ReadFile(ha.log)
		return strings.Contains(string(log), "whose transport database was rolled back")
	})
	waitCond(t, "hub-b to hold the copies made again", 60*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == len(subjects) })
	if log, _ := os.ReadFile(hb.log); !strings.Contains(string(log), "primary asked which of its copies are kept here") {
		t.Error("hub-b does not log that hub-a asked which copies it keeps")
	}

	// hub-a is lost for good: hub-b's copies are the messages.
	ha.kill()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, subjects, hb)
	time.Sleep(2 * time.Second) // a second delivery still on its way would land now
	for _, s := range subjects {
		if n := sink.counts()[s]; n != 1 {
			t.Errorf("%s reached the outside %d times, want once", s, n)
		}
	}
}

// copyFileTo copies the file from to to, as an operator's cp does.
func copyFileTo(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
