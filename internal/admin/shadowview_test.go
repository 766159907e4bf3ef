package admin

import (
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/shadow"
)

// shadowQueue lists the shadow queues of two primaries and tells their
// copies apart (queue.Manager.ShadowCopies).
type shadowQueue struct{ *fakeQueue }

func (shadowQueue) Queues() ([]queue.QueueInfo, error) {
	return []queue.QueueInfo{{Name: "shadow:hub-a", Count: 2}, {Name: "shadow:hub-b", Count: 1}, {Name: "mx:example.net", Count: 1}}, nil
}

func (q shadowQueue) ShadowCopiesAged() (map[string]queue.ShadowCopyCount, map[string]time.Duration, error) {
	c, _ := q.ShadowCopies()
	return c, map[string]time.Duration{"hub-a": time.Minute, "hub-b": time.Second, "hub-c": time.Hour}, nil
}

func (shadowQueue) ShadowCopies() (map[string]queue.ShadowCopyCount, error) {
	// hub-c's copies are all taken over and wait outside its shadow
	// queue (a suspended route's queue, poison, a redirect).
	return map[string]queue.ShadowCopyCount{"hub-a": {Held: 1, TakenOver: 1}, "hub-b": {TakenOver: 1}, "hub-c": {TakenOver: 2}}, nil
}

// The state shadow list shows describes the copies listed (rt14 F5: a
// primary taken over earlier whose copies are held ones again read
// taken-over) and a primary that refuses this server's sessions
// (rt14 F7: it read healthy).
func TestShadowViewsDescribeTheCopies(t *testing.T) {
	for _, c := range []struct {
		held, taken, failures int
		refused, want         string
	}{
		{1, 0, 0, "", "healthy"},
		{1, 0, 2, "", "unreachable"},
		{1, 0, 0, "535 5.7.8 Authentication failed", "refused"},
		{1, 1, 0, "", "healthy"},
		{0, 1, 3, "", "taken-over"},
		{0, 1, 0, "550 5.7.1 Not permitted", "taken-over"},
	} {
		if got := ShadowState(c.held, c.taken, c.failures, c.refused); got != c.want {
			t.Errorf("ShadowState(%d held, %d taken over, %d failures, %q) = %s, want %s", c.held, c.taken, c.failures, c.refused, got, c.want)
		}
	}
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Server{q: shadowQueue{&fakeQueue{}}}
	s.SetShadows(func() []shadow.PrimaryStatus {
		return []shadow.PrimaryStatus{
			// Taken over once, then a held copy pushed since: the record
			// still says taken over; the copies say otherwise.
			{Name: "hub-a", TakenOver: true, Refused: "535 5.7.8 Authentication failed", RefusedSince: since, LastRefused: since.Add(time.Minute)},
			{Name: "hub-b", TakenOver: true, Failures: 4},
			{Name: "hub-c", TakenOver: true, Failures: 5},
		}
	})
	vs, err := s.ShadowViews()
	if err != nil || len(vs) != 3 {
		t.Fatalf("views: %+v %v", vs, err)
	}
	a, b := vs[0], vs[1]
	if a.Primary != "hub-a" || a.HeldCopies != 1 || a.TakenOverCopies != 1 || a.State != "refused" ||
		a.Refused != "535 5.7.8 Authentication failed" || !a.RefusedSince.Equal(since) || !a.TakenOver {
		t.Fatalf("hub-a: %+v", a)
	}
	if b.Primary != "hub-b" || b.HeldCopies != 0 || b.TakenOverCopies != 1 || b.State != "taken-over" {
		t.Fatalf("hub-b: %+v", b)
	}
	// A primary still watched for copies taken over from it that wait
	// outside its shadow queue is listed, with them counted.
	// Its OLDEST covers them too (rt35 F7: "-" while COPIES was 2).
	if c := vs[2]; c.Primary != "hub-c" || c.Copies != 2 || c.TakenOverCopies != 2 || c.State != "taken-over" || c.FailedHeartbeats != 5 ||
		c.OldestAge != time.Hour {
		t.Fatalf("hub-c: %+v", c)
	}
}

// takenUnderQueue is shadowQueue whose hub-b copies were taken over
// under hub-b's old database (it came back with a new one: SR-7).
type takenUnderQueue struct{ shadowQueue }

func (takenUnderQueue) ShadowTakenUnder() (map[string][]string, error) {
	return map[string][]string{"hub-b": {"db-old"}, "hub-c": {"db-c"}}, nil
}

// SR-7 (shadow28 item 1): shadow list, its JSON and the console name the
// database copies were taken over under, not only the primary's current
// id: copies taken over from hub-b's old database read as the running
// hub-b's before.
func TestShadowViewsNameTheDatabaseTakenUnder(t *testing.T) {
	s := &Server{q: takenUnderQueue{shadowQueue{&fakeQueue{}}}}
	s.SetShadows(func() []shadow.PrimaryStatus {
		return []shadow.PrimaryStatus{{Name: "hub-b", DatabaseID: "db-new"}, {Name: "hub-c", DatabaseID: "db-c", TakenOver: true}}
	})
	vs, err := s.ShadowViews()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ShadowView{}
	for _, v := range vs {
		got[v.Primary] = v
	}
	b, c := got["hub-b"], got["hub-c"]
	if len(b.TakenOverUnder) != 1 || b.TakenOverUnder[0] != "db-old" || b.DatabaseShown() != "db-new (taken over under db-old)" {
		t.Fatalf("hub-b: %+v shown %q; want its copies named under db-old", b, b.DatabaseShown())
	}
	if c.DatabaseShown() != "db-c" {
		t.Fatalf("hub-c, taken over under its current database: shown %q", c.DatabaseShown())
	}
}

// rolledBackQueue is shadowQueue whose hub-b came back rolled back (a
// lower rollback mark of the same database id): its copies were taken
// over by that, not by failed heartbeats.
type rolledBackQueue struct{ shadowQueue }

func (rolledBackQueue) ShadowRollbacks() map[string]queue.RollbackNote {
	return map[string]queue.RollbackNote{"hub-b": {Mark: 1, Seen: 3, At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

// SR-7 (rollback marks): shadow list's WHY of a primary whose copies a
// rollback took over says so — the mark presented, the one seen, when —
// where its contact reset the failed heartbeats (it read "-").
func TestShadowViewsSayTheRollback(t *testing.T) {
	s := &Server{q: rolledBackQueue{shadowQueue{&fakeQueue{}}}}
	s.SetShadows(func() []shadow.PrimaryStatus {
		return []shadow.PrimaryStatus{{Name: "hub-b", DatabaseID: "db1"}, {Name: "hub-a", DatabaseID: "db2"}}
	})
	vs, err := s.ShadowViews()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ShadowView{}
	for _, v := range vs {
		got[v.Primary] = v
	}
	want := "its transport database was rolled back (an older copy of the same database): mark 1 presented, 3 seen before, at 2026-01-01T00:00:00Z"
	if b := got["hub-b"]; b.State != "taken-over" || b.TakenOverWhy != want {
		t.Fatalf("hub-b: state %s, why %q; want %q", b.State, b.TakenOverWhy, want)
	}
	if a := got["hub-a"]; a.TakenOverWhy != "" {
		t.Fatalf("hub-a, not rolled back: why %q", a.TakenOverWhy)
	}
}

// departed42 (SR-13, rt42-shadow F2): a primary whose copies are held
// here and whom the topology in force no longer names is marked so
// (shadow list's STATE says "not in topology"); the others are not.
func TestShadowViewsMarkAPrimaryNotInTopology(t *testing.T) {
	s := &Server{q: shadowQueue{&fakeQueue{}}}
	s.SetShadows(func() []shadow.PrimaryStatus {
		return []shadow.PrimaryStatus{{Name: "hub-a"}, {Name: "hub-b"}, {Name: "hub-c", TakenOver: true}}
	})
	s.SetServerKnown(func(name string) bool { return name != "hub-c" })
	vs, err := s.ShadowViews()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, v := range vs {
		if want := v.Primary == "hub-c"; v.NotInTopology != want {
			t.Errorf("%s: NotInTopology %v, want %v", v.Primary, v.NotInTopology, want)
		}
		seen++
	}
	if seen != 3 {
		t.Fatalf("%d rows, want 3 (hub-c's kept while its copies are held)", seen)
	}
}

// A primary this server cannot reach while its own sessions reach this
// server (a link failing one way) is in state one-way, not unreachable:
// no takeover comes while they go on, whether its last heartbeat here
// failed (1) or its session just reset the count (0).
func TestShadowViewsOneWay(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []shadow.PrimaryStatus{
		{Name: "hub-a", Failures: 1, Unreachable: "dial tcp: connection refused", ReachesHere: at},
		{Name: "hub-a", Failures: 0, Unreachable: "watch session failed: connection refused", ReachesHere: at},
	} {
		s := &Server{q: shadowQueue{&fakeQueue{}}}
		s.SetShadows(func() []shadow.PrimaryStatus { return []shadow.PrimaryStatus{p} })
		vs, err := s.ShadowViews()
		if err != nil || len(vs) == 0 || vs[0].Primary != "hub-a" {
			t.Fatalf("views: %+v %v", vs, err)
		}
		if vs[0].State != "one-way" {
			t.Errorf("%d failed heartbeats: state %q, want one-way", p.Failures, vs[0].State)
		}
	}
}
