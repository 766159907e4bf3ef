package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/queue"
)

// OPS-2: the scheduler's gauges: destinations by state (failing and
// suspended too, never counted idle: sched24), attempts running and
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
			{Name: "connector:internet/example.com", Queue: "mx:example.com", State: "failing", Window: 4, Max: 10, Failures: 1},
			{Name: "connector:internet/example.edu", Queue: "mx:example.edu", State: "suspended", Window: 5, Max: 10},
			// Its mail all redirected away: failing, not with mail waiting.
			{Name: "connector:internet/example.org", Queue: "mx:example.org", State: "failing", Window: 1, Max: 10, Failures: 3, NoMailLeft: true},
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
# HELP umbra_scheduler_destinations Destinations the scheduler knows, by state (active, idle, failing, failing_no_mail, dead, suspended; unresponsive servers).
# TYPE umbra_scheduler_destinations gauge
umbra_scheduler_destinations{state="active"} 1
umbra_scheduler_destinations{state="dead"} 1
umbra_scheduler_destinations{state="failing"} 1
umbra_scheduler_destinations{state="failing_no_mail"} 1
umbra_scheduler_destinations{state="idle"} 1
umbra_scheduler_destinations{state="suspended"} 1
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

// Several destinations may show under one queue (a primary's heartbeats
// and its watch sessions are both shown with shadow:PRIMARY): the window
// gauge is one series per queue, their sum, never a duplicate series that
// makes the whole scrape fail.
func TestSchedulerWindowOneSeriesPerQueue(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterScheduler(reg, func() []queue.DestinationInfo {
		return []queue.DestinationInfo{
			{Name: "shadow:hub-a", Queue: "shadow:hub-a", State: "idle", Window: 1, Max: 1},
			{Name: "shadow-watch:hub-a", Queue: "shadow:hub-a", State: "active", Window: 1, Max: 1, Running: 1},
			{Name: "org:site:B", Queue: "site:B", State: "idle", Window: 5, Max: 10},
		}
	})
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	want := `
# HELP umbra_scheduler_window Concurrency window of a destination named by the configuration (not MX domains).
# TYPE umbra_scheduler_window gauge
umbra_scheduler_window{queue="shadow:hub-a"} 2
umbra_scheduler_window{queue="site:B"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "umbra_scheduler_window"); err != nil {
		t.Fatal(err)
	}
}
