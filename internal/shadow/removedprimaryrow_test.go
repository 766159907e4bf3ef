package shadow

import (
	"fmt"
	"testing"
	"time"
)

// SR-17, OPS-3: a primary removed from the topology whose copies are
// still held here keeps its row in shadow list (holderrefused.go), and a
// heartbeat it refuses (presenting its own digest: the primary, alive)
// shows that row refused, as the README says: the operator sees why the
// copies stay.
func TestStatusShowsRemovedPrimaryRefused(t *testing.T) {
	m, fs, hb, clk := setup()
	fs.ps["hub-b"].DatabaseID = "db1"
	m.rec.SetServerKnown(func(string) bool { return false }) // hub-b removed from the topology
	reply := "535 5.7.8 Authentication failed"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, "D:db1"}) })
	step(t, m, hb, clk, 300*time.Second)
	for _, ps := range m.Status() {
		if ps.Name == "hub-b" {
			if ps.Refused == "" {
				t.Fatalf("shadow list shows hub-b, whose copies are held here, without the refusal of its heartbeats: %+v", ps)
			}
			return
		}
	}
	t.Fatal("shadow list shows no row for hub-b, whose copies are held here")
}
