package queue

import (
	"context"
	"testing"
)

// A reload that lowers max_connections_per_destination applies to the
// destinations known already at once, not when each is next used (rt38
// F5 h: queue destinations showed 5/10 after a reload to 3). A
// destination whose job names a limit of its own keeps it.
func TestReloadLowersKnownWindows(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	q.sched.mu.Lock()
	d := q.sched.destFor("mx:a.example", "mx:a.example", 0)
	d.window = d.max
	own := q.sched.destFor("connector:x", "smarthost:x", 7)
	own.window = 7
	q.sched.mu.Unlock()
	q.SetReloadable(3, 0)
	for _, di := range q.Destinations() {
		switch di.Name {
		case "mx:a.example":
			if di.Max != 3 || di.Window > 3 {
				t.Errorf("after the reload: %d/%d, want at most 3/3", di.Window, di.Max)
			}
		case "connector:x":
			if di.Max != 7 || di.Window != 7 {
				t.Errorf("a limit of its own: %d/%d, want 7/7", di.Window, di.Max)
			}
		}
	}
}

// limitDeliverer names a limit for some destinations (DestinationLimiter).
type limitDeliverer struct{ limits map[string]int }

func (limitDeliverer) Deliver(context.Context, *Message, []byte, []int) []Result { return nil }

func (l limitDeliverer) DestinationLimit(key string) (int, bool) {
	max, ok := l.limits[key]
	return max, ok
}

// OPS-1: a reload that changes a send connector's own max_connections
// gives its destinations the new limit at once (the deliverer, reloaded
// first, names it), not at their next job; one the connector no longer
// sets takes max_connections_per_destination; one the deliverer names no
// limit for (a redirect target) keeps its own.
func TestReloadGivesKnownDestinationsTheirConnectorLimit(t *testing.T) {
	s := openTest(t)
	limits := map[string]int{"connector:x": 4, "connector:y": 0}
	q := NewManager(s, limitDeliverer{limits}, ManagerConfig{})
	q.sched.mu.Lock()
	x := q.sched.destFor("connector:x", "smarthost:x", 7)
	x.window = 7
	q.sched.destFor("connector:y", "smarthost:y", 2)
	q.sched.destFor("redirect:h.example", "redirect:h.example", 6)
	q.sched.mu.Unlock()
	q.SetReloadable(3, 0)
	want := map[string]int{"connector:x": 4, "connector:y": 3, "redirect:h.example": 6}
	for _, di := range q.Destinations() {
		if w, ok := want[di.Name]; ok && (di.Max != w || di.Window > w) {
			t.Errorf("%s after the reload: %d/%d, want the limit %d", di.Name, di.Window, di.Max, w)
		}
	}
	// The default a connector without a limit of its own took moves
	// with max_connections_per_destination, as any default one does.
	q.SetReloadable(8, 0)
	for _, di := range q.Destinations() {
		if di.Name == "connector:y" && di.Max != 8 {
			t.Errorf("connector:y after max_connections_per_destination 8: limit %d, want 8", di.Max)
		}
	}
}
