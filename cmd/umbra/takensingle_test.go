package main

import (
	"os"
	"strings"
	"testing"
)

// rt55 F1: one failure after another, with a recovery in between. hub-a
// copies on receipt to hub-b while the next hop is down; hub-a loses its
// disk (kill -9, data_dir wiped) and comes back with a new database:
// hub-b takes its copies over. Those are now on hub-b's disk only: hub-b
// marks them held by this server only and copies them again — to hub-a,
// back and answering — so that the later loss of hub-b's disk loses
// nothing: hub-a takes the copies over and delivers each message once.
func TestTakenOverCopyMadeAgainSurvivesDiskLoss(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	a, b, sinkAddr, cfgA, dataA, cfgB, dataB := o.a, o.b, o.sink, o.cfgA, o.dataA, o.cfgB, o.dataB

	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	acked := sendMany(a, "taken", 2, 2, nil)
	acked = append(acked, sendMany(a, "taken2", 2, 2, nil)...)
	if len(acked) != 4 {
		ha.dumpLog()
		t.Fatalf("%d of 4 acknowledged", len(acked))
	}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 4 })

	// Failure 1: hub-a's disk. It comes back at once, empty.
	ha.kill()
	os.RemoveAll(dataA)
	ha = startUmbra(t, cfgA, a)
	waitCond(t, "hub-b to take hub-a's copies over", 60e9, func() bool { s, n := p.held(t, cfgB, "hub-a"); return s == 0 && n == 4 })
	// Recovery: hub-b copies the taken-over messages again, to hub-a.
	waitCond(t, "hub-b to copy the taken-over messages again to hub-a", 60e9, func() bool { s, _ := p.held(t, cfgA, "hub-b"); return s == 4 })
	waitCond(t, "hub-b to list none held by it only", 30e9, func() bool {
		out, code := cli(t, cfgB, "shadow", "single")
		return code == 0 && strings.HasPrefix(strings.TrimSpace(out), "none:")
	})
	// hub-b logs the copies made again once its pass made them all:
	// shadow single can read none before the line.
	waitLogCount(t, hb, "shadow copies made again", 1)

	// Failure 2: hub-b's disk.
	hb.kill()
	os.RemoveAll(dataB)
	hb = startUmbra(t, cfgB, b)
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, ha)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}
