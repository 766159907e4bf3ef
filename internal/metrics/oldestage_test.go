package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/queue"
)

// An id ahead of the clock (ids after quick restarts or a clock step
// back run ahead of it) reads as a message 0 s old, never a negative age.
func TestOldestAgeNeverNegative(t *testing.T) {
	reg := prometheus.NewRegistry()
	ahead := queue.ID(time.Now().Add(time.Hour).UnixMicro())
	RegisterQueues(reg, func() ([]queue.QueueStats, error) {
		return []queue.QueueStats{{Name: "mailbox:DB01", Count: 1, ByState: map[queue.State]int{queue.Ready: 1}, Oldest: ahead, OldestWaiting: ahead}}, nil
	}, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "umbra_queue_oldest_message_age_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue_type" && l.GetValue() == "mailbox" {
					found = true
					if v := m.GetGauge().GetValue(); v != 0 {
						t.Fatalf("oldest mailbox message, its id an hour ahead of the clock, reads %v s old; want 0", v)
					}
				}
			}
		}
	}
	if !found {
		t.Fatal("no umbra_queue_oldest_message_age_seconds series for the mailbox queues")
	}
}
