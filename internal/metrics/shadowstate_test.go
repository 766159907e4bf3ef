package metrics

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// umbra_shadow_primary_state gives every primary's state as shadow list
// shows it (rt18 F5: the views disagreed): 1 for its state, 0 for the
// others, with its failed heartbeats; a source that fails breaks the
// scrape's series instead of reporting nothing.
func TestShadowPrimaryStates(t *testing.T) {
	reg := prometheus.NewRegistry()
	var err error
	RegisterShadowStates(reg, func() ([]PrimaryState, error) {
		return []PrimaryState{{Primary: "hub-a", State: "unreachable", FailedHeartbeats: 2}, {Primary: "hub-b", State: "refused"}}, err
	})
	mfs, gerr := reg.Gather()
	if gerr != nil {
		t.Fatal(gerr)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"umbra_shadow_primary_state primary=hub-a state=unreachable": 1,
		"umbra_shadow_primary_state primary=hub-a state=healthy":     0,
		"umbra_shadow_primary_state primary=hub-a state=refused":     0,
		"umbra_shadow_primary_state primary=hub-b state=refused":     1,
		"umbra_shadow_primary_state primary=hub-b state=taken-over":  0,
		"umbra_shadow_primary_failed_heartbeats primary=hub-a":       2,
		"umbra_shadow_primary_failed_heartbeats primary=hub-b":       0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if len(got) != 2*len(PrimaryStates)+2 {
		t.Errorf("%d series, want %d: %v", len(got), 2*len(PrimaryStates)+2, got)
	}
	err = errors.New("store closed")
	if _, gerr := reg.Gather(); gerr == nil {
		t.Errorf("a failing source gave a clean scrape")
	}
}
