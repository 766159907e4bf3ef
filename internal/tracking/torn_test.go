package tracking

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A crash mid-write leaves the log's last line torn (no newline). The
// next start begins a new line, so that the crash costs only the torn
// line: the first event after the restart is found by track.
func TestOpenAfterTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	good := `{"time":"2026-01-02T03:04:05Z","event":"receive","msg_id":"1","sender":"a@ex.test"}` + "\n"
	if err := os.WriteFile(path, []byte(good+`{"time":"2026-01-02T03:04:06Z","event":"torn`), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC) }
	l.Event("defer", &queue.Message{ID: 7, From: "b@ex.test"}, &queue.Recipient{Addr: "c@ex.test"}, "451 4.4.1 later")
	l.Close()
	es, err := Search(path, 0, Query{})
	var got []string
	for _, e := range es {
		got = append(got, e.ID+"="+e.Event)
	}
	if want := "1=receive " + queue.ID(7).String() + "=defer"; strings.Join(got, " ") != want {
		t.Errorf("entries %q, want %q", strings.Join(got, " "), want)
	}
	var p *Partial
	if !errors.As(err, &p) || len(p.BadLines) != 1 || p.BadLines[0].Count != 1 || p.BadLines[0].First != 2 {
		t.Errorf("err %v, want the torn line 2 alone skipped", err)
	}
	// A file that ends in a newline, and an empty one, get none added.
	for _, start := range []string{good, ""} {
		os.WriteFile(path, []byte(start), 0o600)
		l, err := Open(path, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if b, _ := os.ReadFile(path); string(b) != start {
			t.Errorf("%q became %q", start, b)
		}
	}
}

// A write cut short (a full disk) leaves a torn line too: the next
// write starts a new line.
func TestShortWriteThenNewLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC) }
	l.f.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-01-02T03:04:06Z","event":"to`)
	l.f = f
	l.torn = true // as writeLines sets it when a write is cut short
	l.Event("defer", &queue.Message{ID: 8}, &queue.Recipient{Addr: "c@ex.test"}, "451 4.4.1 later")
	l.Close()
	es, _ := Search(path, 0, Query{})
	if len(es) != 1 || es[0].ID != queue.ID(8).String() {
		t.Errorf("entries %+v, want the defer of 8", es)
	}
}
