package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/queue"
)

// OPS-2, Q-3 (rt31d F3): a message in its attempt whose jobs in a queue only
// wait for a slot of the destination is "waiting" in the queue gauges,
// as queue list's by_state and message list show it — the gauge said 4
// active where the list said 1 active, 3 waiting.
func TestQueueMessagesWaitingAsTheCLISays(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterQueues(reg, func() ([]queue.QueueStats, error) {
		return []queue.QueueStats{
			{Name: "smarthost:slow", Count: 4, ByState: map[queue.State]int{queue.Active: 4}, Waiting: 3},
		}, nil
	}, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "umbra_queue_messages" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var typ, st string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "queue_type":
					typ = l.GetValue()
				case "state":
					st = l.GetValue()
				}
			}
			got[typ+"/"+st] = m.GetGauge().GetValue()
		}
	}
	for k, want := range map[string]float64{"smtp-smart-host/active": 1, "smtp-smart-host/waiting": 3, "smtp-mx/waiting": 0} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}
