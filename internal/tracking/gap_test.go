package tracking

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// ops48 F5: events lost on a full disk left no trace in the tracking
// log: a search over that period answered nothing, and "never
// happened" read like "not recorded". The first write that goes
// through after them writes a gap line — from when, to when, how many
// — and a search whose period overlaps it returns it, whatever else it
// asks; one whose period does not, does not.
func TestOps48LostEventsLeaveAGapLine(t *testing.T) {
	dir, fill, free := fillTmpfs(t)
	path := filepath.Join(dir, "tracking.log")
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e := Entry{Time: t0, Event: "deliver", ID: "0001", Sender: "a@example.org", Recipients: []string{"x@example.test"}}
	l.Write(e)
	fill()
	first := t0.Add(time.Hour)
	for i := range 200 {
		e.Time = first.Add(time.Duration(i) * time.Second)
		l.Write(e)
	}
	lost := int(testutil.ToFloat64(l.lost))
	if lost == 0 {
		t.Fatal("no event lost on a full disk")
	}
	free()
	e.Time = first.Add(time.Hour)
	l.Write(e)

	// The write cut short by the full disk left a torn line, which
	// a search skips and names (a *Partial of bad lines only).
	search := func(q Query) ([]Entry, error) {
		es, err := Search(path, 0, q)
		var p *Partial
		if errors.As(err, &p) && len(p.Skipped) == 0 {
			err = nil
		}
		return es, err
	}
	es, err := search(Query{ID: "no-such-message", Since: first.Add(30 * time.Minute), Until: first.Add(31 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Event != GapEvent || es[0].Lost != lost || es[0].LostFrom == nil {
		t.Fatalf("a search inside the lost period found %+v, want the one gap line of %d events lost", es, lost)
	}
	// The first event lost opens the gap (the last ones written whole on
	// the filling disk may be later: the first that failed decides).
	if es[0].LostFrom.Before(first) || !es[0].LostFrom.Before(first.Add(200*time.Second)) {
		t.Fatalf("gap from %v, want within the 200 events from %v", es[0].LostFrom, first)
	}
	if es, err := search(Query{Since: t0, Until: first}); err != nil || len(es) != 1 || es[0].Event != "deliver" {
		t.Fatalf("a search before the gap found %+v (%v), want the one event written then", es, err)
	}
}
