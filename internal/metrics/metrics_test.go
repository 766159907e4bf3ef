package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// Every metric passes Prometheus' own lint (the checks of promtool check
// metrics) and reports what it was fed.
func TestMetricsLintAndValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	old := queue.ID(time.Now().Add(-90 * time.Second).UnixMicro())
	RegisterQueues(reg, func() ([]queue.QueueStats, error) {
		return []queue.QueueStats{
			{Name: "mx:example.net", Count: 3, ByState: map[queue.State]int{queue.Ready: 3}, Retry: 1, Oldest: old, OldestWaiting: old},
			{Name: "mx:example.org", Count: 1, ByState: map[queue.State]int{queue.Active: 1}, Oldest: old + 5, OldestWaiting: old + 5},
			{Name: "poison", Count: 1, ByState: map[queue.State]int{queue.Poison: 1}, Oldest: old + 9, OldestWaiting: old + 9},
			{Name: "shadow:hub-b", Count: 4, ByState: map[queue.State]int{queue.Shadow: 4}, Oldest: old + 11, OldestWaiting: old + 11},
		}, nil
	}, nil)
	m.Session("default")
	m.Received("default", 100)
	m.Command("default", "RCPT", 550)
	m.Commit(3*time.Millisecond, 4, nil)
	msg := &queue.Message{ID: 1}
	m.Event("send", msg, &queue.Recipient{Queue: "smarthost:edge"}, "250 ok")
	m.Event("receive", msg, nil, "")
	m.Heartbeat(true)
	m.Heartbeat(false)
	m.Takeover(7)
	m.DiscardsReceived(3)
	m.DiscardsSent(2)
	RegisterDumpster(reg, func() (map[string]queue.DumpsterStat, error) {
		return map[string]queue.DumpsterStat{"DB01": {Messages: 3, Bytes: 12000}}, nil
	})
	m.DumpsterKept("DB01", 4000, false)
	m.DumpsterKept("DB01", 4000, true)
	m.DumpsterEvicted("DB01", "size", 2)
	m.DumpsterResubmitted("DB01", 5)
	m.Event("duplicate-suppressed", msg, &queue.Recipient{Queue: "mailbox:DB01"}, "250 duplicate")
	m.AuthFailure("default", "bad_credentials")
	m.AuthFailure("default", "bad_credentials")
	m.AuthFailure("default", "locked_out")
	m.BackPressureRefused("default")
	m.SessionPanic("default")

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP umbra_dumpster_bytes Bytes kept in the transport dumpster, by mailbox database.
# TYPE umbra_dumpster_bytes gauge
umbra_dumpster_bytes{database="DB01"} 12000
# HELP umbra_dumpster_evictions_total Dumpster copies dropped, by mailbox database and reason (age, size, too_big: never kept, removed: by the operator, unreadable: found so by a redelivery request).
# TYPE umbra_dumpster_evictions_total counter
umbra_dumpster_evictions_total{database="DB01",reason="size"} 2
# HELP umbra_delivery_duplicates_suppressed_total Final deliveries not made because the message had reached that mailbox database before (SR-11).
# TYPE umbra_delivery_duplicates_suppressed_total counter
umbra_delivery_duplicates_suppressed_total{database="DB01"} 1
# HELP umbra_smtp_auth_failures_total Refused AUTH attempts, by connector and reason (bad_credentials, identity_mismatch, locked_out).
# TYPE umbra_smtp_auth_failures_total counter
umbra_smtp_auth_failures_total{connector="default",reason="bad_credentials"} 2
umbra_smtp_auth_failures_total{connector="default",reason="locked_out"} 1
# HELP umbra_smtp_session_panics_total Receive sessions that panicked (recovered: the client got 421 4.0.0 and the session ended; logged at most once a minute), by connector.
# TYPE umbra_smtp_session_panics_total counter
umbra_smtp_session_panics_total{connector="default"} 1
`), "umbra_dumpster_bytes", "umbra_dumpster_evictions_total", "umbra_delivery_duplicates_suppressed_total", "umbra_smtp_auth_failures_total", "umbra_smtp_session_panics_total"); err != nil {
		t.Error(err)
	}

	want := `
# HELP umbra_queue_messages Messages in the queues, by queue type and state (ready, retry: waiting for a retry after a deferral, held: waiting in a suspended queue, active: in its attempt, a job of it running there, waiting: in its attempt, its jobs there waiting for a slot of the destination, suspended: the message itself, poison, shadow, quarantined, damaged: a record that does not decode, set aside in the queue type damaged; a message waiting in two queues counts in both).
# TYPE umbra_queue_messages gauge
umbra_queue_messages{queue_type="smtp-mx",state="active"} 1
umbra_queue_messages{queue_type="smtp-mx",state="ready"} 2
umbra_queue_messages{queue_type="smtp-mx",state="retry"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want+zeroLines()), "umbra_queue_messages"); err != nil {
		t.Error(err)
	}
	// The shadow copies of each primary are the shadow view's, as shadow
	// list shows them (RegisterShadowStates), not the shadow queue's.
	if n, err := testutil.GatherAndCount(reg, "umbra_shadow_queue_messages"); err != nil || n != 0 {
		t.Errorf("umbra_shadow_queue_messages from the queue gauges: %d series (%v), want none", n, err)
	}
	if n := testutil.ToFloat64(m.commands.WithLabelValues("default", "RCPT", "5xx")); n != 1 {
		t.Errorf("commands 5xx = %v", n)
	}
	for name, want := range map[string]float64{"failed": 1, "ok": 1} {
		if n := testutil.ToFloat64(m.heartbeats.WithLabelValues(name)); n != want {
			t.Errorf("heartbeats %s = %v", name, n)
		}
	}
	if testutil.ToFloat64(m.resubmitted) != 7 || testutil.ToFloat64(m.takeovers) != 1 || testutil.ToFloat64(m.discardsIn) != 3 ||
		testutil.ToFloat64(m.discardsOut) != 2 {
		t.Error("shadow counters")
	}
	// rt20b-F4: a MAIL refused by back pressure is no refused connection.
	if n := testutil.ToFloat64(m.bpRefused.WithLabelValues("default")); n != 1 {
		t.Errorf("back pressure refusals = %v", n)
	}
	if n, err := testutil.GatherAndCount(reg, "umbra_smtp_connections_rejected_total"); err != nil || n != 0 {
		t.Errorf("umbra_smtp_connections_rejected_total: %d series (%v), want none", n, err)
	}
	if n := testutil.ToFloat64(m.events.WithLabelValues("send", "smtp-smart-host")); n != 1 {
		t.Errorf("send events = %v", n)
	}
}

// zeroLines lists the queue gauges that must be present at zero.
func zeroLines() string {
	var b strings.Builder
	for _, typ := range []string{"damaged", "legacy", "mailbox", "poison", "quarantine", "shadow", "site", "smtp-mx", "smtp-redirect", "smtp-smart-host", "submission", "unreachable"} {
		for _, st := range []string{"active", "damaged", "held", "poison", "quarantined", "ready", "retry", "shadow", "suspended", "waiting"} {
			if typ == "smtp-mx" && (st == "active" || st == "ready" || st == "retry") {
				continue
			}
			n := "0"
			if typ == "poison" && st == "poison" {
				n = "1"
			}
			if typ == "shadow" && st == "shadow" {
				n = "4"
			}
			b.WriteString(`umbra_queue_messages{queue_type="` + typ + `",state="` + st + `"} ` + n + "\n")
		}
	}
	return b.String()
}

// The quarantine's events carry its queue type, not an empty label.
func TestQuarantineEventsQueueType(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	held := &queue.Message{ID: 1, State: queue.Quarantined, Quarantine: "spam"}
	m.Event("quarantine", held, nil, "spam")
	m.Event("remove", held, nil, "deleted from quarantine by the administrator")
	m.Event("release", &queue.Message{ID: 2, State: queue.Ready}, nil, "released")
	m.Event("receive", &queue.Message{ID: 3, State: queue.Ready}, nil, "")
	// The poison queue's too: a message moved there as a whole, and
	// removed from it by the administrator.
	poisoned := &queue.Message{ID: 4, State: queue.Poison}
	m.Event("poison", poisoned, nil, "in flight during 2 crashes while umbra processed it")
	m.Event("admin", poisoned, nil, "removed by the administrator")
	for _, c := range []struct{ event, typ string }{{"quarantine", "quarantine"}, {"remove", "quarantine"}, {"release", "quarantine"}, {"receive", ""},
		{"poison", "poison"}, {"admin", "poison"}} {
		if got := testutil.ToFloat64(m.events.WithLabelValues(c.event, c.typ)); got != 1 {
			t.Errorf("umbra_queue_events_total{event=%q,queue_type=%q} = %v, want 1", c.event, c.typ, got)
		}
	}
}

// A suspended queue's waiting messages are "held" in the metrics, as
// queue list counts them and each message shows; every queue type the
// age gauge reports and every state is present at zero.
func TestQueueMessagesHeldAsTheCLISays(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterQueues(reg, func() ([]queue.QueueStats, error) {
		return []queue.QueueStats{
			{Name: "smarthost:out", Count: 4, ByState: map[queue.State]int{queue.Ready: 3, queue.Active: 1}, Retry: 1},
			{Name: "mx:example.net", Count: 2, ByState: map[queue.State]int{queue.Ready: 2}, Retry: 1},
			{Name: "quarantine", Count: 1, ByState: map[queue.State]int{queue.Quarantined: 1}},
		}, nil
	}, func() []string { return []string{"smarthost:out", "mx:gone.example"} })
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
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
	for k, want := range map[string]float64{
		"smtp-smart-host/held": 3, "smtp-smart-host/ready": 0, "smtp-smart-host/retry": 0, "smtp-smart-host/active": 1,
		"smtp-mx/held": 0, "smtp-mx/ready": 1, "smtp-mx/retry": 1,
		"quarantine/quarantined": 1, "legacy/held": 0, "smtp-redirect/ready": 0, "submission/quarantined": 0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}

// rt22b L3: the help of umbra_smtp_connections_rejected_total names
// every reason the metric records (smtp.RejectReasons, the list the SMTP
// server counts by), recipient limit and transaction time included.
func TestRejectedHelpNamesEveryReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Rejected("c", smtp.RejectRecipients)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "umbra_smtp_connections_rejected_total" {
			continue
		}
		for _, r := range []string{"recipient limit", "transaction time", "data rate", "data time", "line length",
			"junk command limit", "error limit", "max_connections reached", "max_connections_per_source reached",
			"no connector for remote address"} {
			if !strings.Contains(f.GetHelp(), r) {
				t.Errorf("help %q does not name %q", f.GetHelp(), r)
			}
		}
		return
	}
	t.Fatal("umbra_smtp_connections_rejected_total not gathered")
}

// SR-7, SR-17 (OPS-2): the help of umbra_shadow_single_copy_messages
// says what the gauge counts — every kind of single-copy mark, a DSN
// or report written here and a message released from a hold among them
// — and when such a message stops counting: once the holders' pass
// copies it to a server that takes the copy. It said "made again when a
// shadow server answers": one that answers may refuse the copy, and the
// message stays counted.
func TestSingleCopyHelpSaysWhatItCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterSingleCopies(reg, func() int { return 1 })
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "umbra_shadow_single_copy_messages" {
			continue
		}
		help := f.GetHelp()
		for _, w := range []string{"lost with its server's database", queue.HowRemoved, queue.HowDamaged, queue.HowRolledBack, "refused", "not made at receipt",
			"hold", queue.HowQuarantined[:len("quarantin")], "taken over", "DSN", "pickup", "redelivery",
			"shadow_heartbeat_timeout", "takes the copy", "stay counted"} {
			if !strings.Contains(help, w) {
				t.Errorf("help %q does not say %q", help, w)
			}
		}
		if strings.Contains(help, "when a shadow server answers") {
			t.Errorf("help %q: a shadow server that answers may refuse the copy", help)
		}
		return
	}
	t.Fatal("umbra_shadow_single_copy_messages not gathered")
}
