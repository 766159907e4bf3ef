package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/queue"
)

// The scheduler's gauges: destinations by state, attempts running and
// waiting, and a window per configured destination — never one per MX
// domain (an unbounded label).
func TestSchedulerGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterScheduler(reg, func() []queue.DestinationInfo {
		return []queue.DestinationInfo{
			{Name: "connector:out", Queue: "smarthost:out", State: "active", Window: 7, Max: 10, Running: 7, Waiting: 30},
			{Name: "connector:internet/example.net", Queue: "mx:example.net", State: "dead", Window: 1, Max: 10},
			{Name: "org:site:B", Queue: "site:B", State: "idle", Window: 5, Max: 10},
			{Name: "server:hub-b", State: "unresponsive"},
		}
	})
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	want := `
# HELP umbra_scheduler_attempts_running Delivery attempts running, over all destinations.
# TYPE umbra_scheduler_attempts_running gauge
umbra_scheduler_attempts_running 7
# HELP umbra_scheduler_attempts_waiting Delivery attempts waiting for their destination's window.
# TYPE umbra_scheduler_attempts_waiting gauge
umbra_scheduler_attempts_waiting 30
# HELP umbra_scheduler_destinations Destinations the scheduler knows, by state (active, idle, dead; unresponsive servers).
# TYPE umbra_scheduler_destinations gauge
umbra_scheduler_destinations{state="active"} 1
umbra_scheduler_destinations{state="dead"} 1
umbra_scheduler_destinations{state="idle"} 1
umbra_scheduler_destinations{state="unresponsive"} 1
# HELP umbra_scheduler_window Concurrency window of a destination named by the configuration (not MX domains).
# TYPE umbra_scheduler_window gauge
umbra_scheduler_window{queue="site:B"} 5
umbra_scheduler_window{queue="smarthost:out"} 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
