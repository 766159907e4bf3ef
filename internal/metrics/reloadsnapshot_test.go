package metrics

import (
	"errors"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// OPS-1, OPS-2: a scrape shows a reload's count and its result together.
// A scrape that counted a reload but showed the gauges of the one before
// it (a failed reload counted, umbra_config_last_reload_successful still
// 1) is what a test that waits for the count, then reads the gauges,
// read once (CI run 145's TestOPS2RestartWouldFailGauge), and what an
// alert that joins them reads. Reloads alternate ok, failed, ok, …: the
// count of failures says which came last.
func TestReloadCountAndGaugesScrapedTogether(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	o := m.RegisterOps(reg, "1.2.3")
	const reloads = 4000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < reloads; i++ {
			if i%2 == 0 {
				o.Reload(nil, false)
			} else {
				o.Reload(errors.New("bad file"), false)
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for scrapes := 0; ; scrapes++ {
		select {
		case <-done:
			if scrapes == 0 {
				t.Log("no scrape ran while reloading")
			}
			return
		default:
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]float64{}
		for _, mf := range mfs {
			for _, mm := range mf.GetMetric() {
				name := mf.GetName()
				for _, l := range mm.GetLabel() {
					name += "/" + l.GetValue()
				}
				switch {
				case mm.GetCounter() != nil:
					v[name] = mm.GetCounter().GetValue()
				case mm.GetGauge() != nil:
					v[name] = mm.GetGauge().GetValue()
				}
			}
		}
		ok, failed := v["umbra_config_reloads_total/ok"], v["umbra_config_reloads_total/failed"]
		if ok+failed == 0 {
			continue
		}
		wantOK, wantFail := 1.0, 0.0 // the last was ok: as many oks as failures plus one
		if ok == failed {
			wantOK, wantFail = 0, 1
		}
		if ok != failed && ok != failed+1 {
			t.Fatalf("scrape %d: %v ok and %v failed reloads, alternating from ok", scrapes, ok, failed)
		}
		if got, fail := v["umbra_config_last_reload_successful"], v["umbra_config_restart_would_fail"]; got != wantOK || fail != wantFail {
			t.Fatalf("scrape %d: %v ok and %v failed reloads (the last %s), but last_reload_successful %v and restart_would_fail %v",
				scrapes, ok, failed, map[bool]string{true: "ok", false: "failed"}[wantOK == 1], got, fail)
		}
	}
}
