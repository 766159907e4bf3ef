package tracking

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// failWrites makes the log's writes fail from now on: its file is
// replaced by a handle that cannot write (EBADF), as an I/O error would.
func failWrites(t *testing.T, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ro, err := os.Open(l.path)
	if err != nil {
		t.Fatal(err)
	}
	l.f.Close()
	l.f = ro
}

func searchAll(t *testing.T, path string, q Query) []Entry {
	t.Helper()
	es, err := Search(path, 4, q)
	var p *Partial
	if err != nil && !(errors.As(err, &p) && len(p.Skipped) == 0) {
		t.Fatal(err)
	}
	return es
}

// life49: a daemon that stopped while tracking writes failed left no
// gap line: the events it lost were in its metric and log only, and a
// search over that period answered nothing. Close keeps the gap beside
// the log; the next start's first write says it in the log.
func TestOps48GapOfAStopWhileWritesFailIsWrittenAtTheNextStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	t0, e := stopWhileWritesFail(t, path)

	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e.Time = t0.Add(2 * time.Hour)
	l.Write(e)
	es := searchAll(t, path, Query{ID: "no-such-message", Since: t0.Add(time.Hour), Until: t0.Add(time.Hour + time.Minute)})
	if len(es) != 1 || es[0].Event != GapEvent || es[0].Lost != 3 || es[0].LostFrom == nil || !es[0].LostFrom.Equal(t0.Add(time.Hour)) {
		t.Fatalf("a search inside the lost period found %+v, want the gap line of the 3 events lost before the stop", es)
	}
	if _, err := os.Lstat(path + ".gap"); !os.IsNotExist(err) {
		t.Fatalf("the kept gap stays once written: %v", err)
	}
	l.Close()
	l, err = Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.Time = t0.Add(3 * time.Hour)
	l.Write(e)
	if es := searchAll(t, path, Query{Events: []string{GapEvent}}); len(es) != 1 {
		t.Fatalf("gap lines after another start: %+v, want the one", es)
	}
}

// life49: a gap line is a line like any other: one that would take the
// file past max_size rotates it first (writeGap wrote it unchecked).
func TestOps48GapLineRespectsTheRotationSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e := Entry{Time: t0, Event: "deliver", ID: "0001", Sender: "a@example.org", Recipients: []string{"x@example.test"}}
	l.Write(e)
	l.mu.Lock()
	one := l.size
	l.maxSize = 2*one + one/4 // two event lines fit; two and a gap line do not
	l.mu.Unlock()
	failWrites(t, l)
	e.Time = t0.Add(time.Minute)
	l.Write(e)
	l.mu.Lock()
	l.f.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.f = f // writes go through again
	l.mu.Unlock()
	e.Time = t0.Add(2 * time.Minute)
	l.Write(e)
	l.mu.Lock()
	max := l.maxSize
	l.mu.Unlock()
	for _, p := range []string{path, path + ".1", path + ".2"} {
		if fi, err := os.Stat(p); err == nil && fi.Size() > max {
			t.Errorf("%s holds %d bytes, past max_size %d", filepath.Base(p), fi.Size(), max)
		}
	}
	if es := searchAll(t, path, Query{Events: []string{GapEvent}}); len(es) != 1 {
		t.Fatalf("gap lines %+v, want the one", es)
	}
}

// rdlife49: a start killed between writing the kept gap's line and
// removing <path>.gap took the file up again at the next start and
// wrote the same gap a second time: a search counted the lost events
// twice. The next start finds the line already in the log and only
// removes the file.
func TestRdlife49KeptGapWrittenBeforeACrashIsNotWrittenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	t0, e := stopWhileWritesFail(t, path)
	kept, err := os.ReadFile(path + ".gap")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.Time = t0.Add(2 * time.Hour)
	l.Write(e) // writes the gap line, removes the file
	l.Close()  // nothing left to keep: as a kill, which frees the lock
	// killed before the removal reached the disk: the file is back
	if err := os.WriteFile(path+".gap", kept, 0o640); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e.Time = t0.Add(3 * time.Hour)
	l.Write(e)
	if es := searchAll(t, path, Query{Events: []string{GapEvent}}); len(es) != 1 {
		t.Fatalf("gap lines after a crash between the line and the removal: %d (%+v), want the one", len(es), es)
	}
	if _, err := os.Lstat(path + ".gap"); !os.IsNotExist(err) {
		t.Fatalf("the kept gap already written stays: %v", err)
	}
}

// stopWhileWritesFail runs a log at path whose writes fail after its
// first event and stops it with the 3 events since lost (kept in
// <path>.gap): the first event's time and the event, for more.
func stopWhileWritesFail(t *testing.T, path string) (time.Time, Entry) {
	t.Helper()
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e := Entry{Time: t0, Event: "deliver", ID: "0001", Sender: "a@example.org", Recipients: []string{"x@example.test"}}
	l.Write(e)
	failWrites(t, l)
	for i := range 3 {
		e.Time = t0.Add(time.Hour + time.Duration(i)*time.Second)
		l.Write(e)
	}
	l.Close() // stops while writes fail
	return t0, e
}
