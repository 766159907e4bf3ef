package queue

import (
	"testing"
	"time"
)

// SR-16, OPS-3 (rt34 O2): one transport server is one row of queue
// destinations however its callers marked it — under the topology's
// spelling with its address (a heartbeat), under server.name's spelling
// (a session), or under its address alone: the rows merge by the
// links the marks make and by the name without letter case and final
// dot, its address shown in the row.
func TestHealthOneRowPerServer(t *testing.T) {
	h := NewHealth()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.Unresponsive(now, "heartbeat: connection refused", "HUB-A.rt.test.", "127.0.0.136:8601")
	h.Unresponsive(now.Add(time.Second), "shadow copy on receipt: connection refused", "hub-a.rt.test")
	h.Unresponsive(now, "probe", "127.0.0.136:8601")
	h.Unresponsive(now, "relay refused", "hub-b.rt.test", "127.0.0.136:8602")
	rows := h.Servers()
	if len(rows) != 2 {
		t.Fatalf("rows %+v, want one for hub-a and one for hub-b", rows)
	}
	if rows[0].Name != "HUB-A.rt.test." || len(rows[0].Addrs) != 1 || rows[0].Addrs[0] != "127.0.0.136:8601" {
		t.Errorf("hub-a's row %+v, want HUB-A.rt.test. at 127.0.0.136:8601", rows[0])
	}
	if rows[1].Name != "hub-b.rt.test" {
		t.Errorf("hub-b's row %+v", rows[1])
	}
}
