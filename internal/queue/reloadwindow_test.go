package queue

import "testing"

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
