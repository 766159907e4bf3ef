package metrics

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/queue"
)

// Delivery latency and results per destination with bounded labels (MX
// domains collapse into "mx"), TLS sessions, reloads and build info; all
// pass Prometheus' lint.
func TestOpsMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	o := m.RegisterOps(reg, "1.2.3")
	m.Known([]string{"default"}, []string{"DB01"})
	msg := &queue.Message{ID: 1, Arrived: time.Now().Add(-2 * time.Second)}
	for i := 0; i < 50; i++ {
		m.Event("send", msg, &queue.Recipient{Queue: "mx:domain" + strings.Repeat("x", i) + ".example"}, "250 ok")
	}
	m.Event("defer", msg, &queue.Recipient{Queue: "smarthost:edge"}, "451 later")
	m.Event("deliver", msg, &queue.Recipient{Queue: "mailbox:DB01"}, "250 ok")
	m.TLS("default", "TLS 1.3")
	o.Reload(errors.New("bad file"), false)

	if n := testutil.ToFloat64(o.destinations.WithLabelValues("mx", "sent")); n != 50 {
		t.Errorf("sent to mx: %v", n)
	}
	if n := testutil.CollectAndCount(o.destinations); n != 3 {
		t.Errorf("%d destination series; MX domains must not be labels", n)
	}
	if n := testutil.ToFloat64(o.destinations.WithLabelValues("smarthost:edge", "deferred")); n != 1 {
		t.Errorf("deferred at edge: %v", n)
	}
	if got := gathered(t, reg, "umbra_config_last_reload_successful"); got != 0 {
		t.Errorf("last reload successful after a failure: %v", got)
	}
	if got := gathered(t, reg, "umbra_config_restart_would_fail"); got != 1 {
		t.Errorf("restart would fail after a failed reload: %v", got)
	}
	if got := gathered(t, reg, "umbra_config_reloads_total"); got != 1 {
		t.Errorf("reloads counted: %v, want 1", got)
	}
	o.Reload(nil, true) // a part only a restart applies refused or changed
	if ok, fail := gathered(t, reg, "umbra_config_last_reload_successful"), gathered(t, reg, "umbra_config_restart_would_fail"); ok != 1 || fail != 1 {
		t.Errorf("a reload that left a part to a restart: successful %v, restart would fail %v; want 1, 1", ok, fail)
	}
	o.Reload(nil, false)
	if got := gathered(t, reg, "umbra_config_reloads_total"); got != 3 {
		t.Errorf("reloads counted: %v, want 3", got)
	}
	if got := gathered(t, reg, "umbra_config_restart_would_fail"); got != 0 {
		t.Errorf("restart would fail after a reload that took the whole file: %v", got)
	}
	if got := testutil.ToFloat64(o.tls.WithLabelValues("default", "TLS 1.3")); got != 1 {
		t.Errorf("TLS sessions: %v", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP umbra_build_info Always 1; the labels name the running build.
# TYPE umbra_build_info gauge
`+`umbra_build_info{goversion="`+goVersion()+`",version="1.2.3"} 1
`), "umbra_build_info"); err != nil {
		t.Error(err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "umbra_delivery_latency_seconds" {
			continue
		}
		var count uint64
		for _, mm := range mf.GetMetric() {
			count += mm.GetHistogram().GetSampleCount()
		}
		if count != 51 {
			t.Errorf("latency observations: %d, want 51 (sends and the delivery, not the deferral)", count)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func goVersion() string { return runtime.Version() }

// rt20e-F7 (OPS-): a fresh server exports the back-pressure refusals (and
// the refused AUTH attempts) of
// each configured receive connector at zero, with its HELP, before the
// first refusal.
func TestKnownBackPressureAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Known([]string{"internet", "org"}, nil)
	if n := testutil.CollectAndCount(reg, "umbra_smtp_back_pressure_refused_total"); n != 2 {
		t.Fatalf("%d back-pressure series on a fresh server, want 2 (one per connector)", n)
	}
	// A sibling: refused AUTH attempts, per reason the README lists.
	if n := testutil.CollectAndCount(reg, "umbra_smtp_auth_failures_total"); n != 6 {
		t.Errorf("%d AUTH failure series on a fresh server, want 6", n)
	}
	m.BackPressureRefused("internet")
	if got := testutil.ToFloat64(m.bpRefused.WithLabelValues("internet")); got != 1 {
		t.Errorf("internet: %v after one refusal", got)
	}
	if got := testutil.ToFloat64(m.bpRefused.WithLabelValues("org")); got != 0 {
		t.Errorf("org: %v", got)
	}
}

// gathered is the sum of the values of name's series in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// OPS-2 (rt45 ops F2): a relay to a transport server of the organisation
// that keeps this server's copy as its shadow (the "shadow" event of a
// recipient) is a recipient sent, with its latency, as a relay to any
// other next hop; a copy on receipt held here for another primary (the
// message's "shadow" event, no recipient) is no delivery.
func TestOPSRelayKeptAsShadowCountsAsSent(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	o := m.RegisterOps(reg, "1.2.3")
	msg := &queue.Message{ID: 1, Arrived: time.Now().Add(-2 * time.Second)}
	for i := 0; i < 20; i++ {
		m.Event("shadow", msg, &queue.Recipient{Queue: "site:beta"}, "250 2.0.0 kept as shadow")
	}
	m.Event("shadow", msg, nil, "shadow copy on receipt for hub-a")
	if n := testutil.ToFloat64(o.destinations.WithLabelValues("site:beta", "sent")); n != 20 {
		t.Errorf("relays kept as shadow at site:beta counted sent %v times, want 20", n)
	}
	if n := testutil.CollectAndCount(o.destinations); n != 1 {
		t.Errorf("%d destination series, want 1: a copy on receipt is no delivery", n)
	}
	if got := histCount(t, reg, "umbra_delivery_latency_seconds", "site"); got != 20 {
		t.Errorf("%d latency observations for site relays, want 20", got)
	}
}

// histCount is the sample count of histogram name's series whose
// queue_type label is typ.
func histCount(t *testing.T, reg *prometheus.Registry, name, typ string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue_type" && l.GetValue() == typ && m.GetHistogram() != nil {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}
