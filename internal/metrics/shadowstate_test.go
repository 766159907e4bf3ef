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
		return []PrimaryState{{Primary: "hub-a", State: "unreachable", FailedHeartbeats: 2, Copies: 3},
			{Primary: "hub-b", State: "refused"},
			// every copy taken over and redirected: none in its shadow queue
			{Primary: "hub-c", State: "taken-over", Copies: 4, TakenOverCopies: 4}}, err
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
		"umbra_shadow_queue_messages primary=hub-a":                  3,
		"umbra_shadow_queue_messages primary=hub-b":                  0,
		"umbra_shadow_queue_messages primary=hub-c":                  4,
		"umbra_shadow_taken_over_messages primary=hub-a":             0,
		"umbra_shadow_taken_over_messages primary=hub-c":             4,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if want := 3 * (len(PrimaryStates) + 3); len(got) != want {
		t.Errorf("%d series, want %d: %v", len(got), want, got)
	}
	err = errors.New("store closed")
	if _, gerr := reg.Gather(); gerr == nil {
		t.Errorf("a failing source gave a clean scrape")
	}
}
