package tracking

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

func TestWriteSearchRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 2000, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		m := &queue.Message{ID: queue.ID(i + 1), From: fmt.Sprintf("s%d@example.org", i), MessageID: fmt.Sprintf("<m%d@example.org>", i),
			Rcpts: []queue.Recipient{{Addr: fmt.Sprintf("r%d@example.net", i), Queue: "mx:example.net"}}}
		l.Event("receive", m, nil, "")
		l.Event("send", m, &m.Rcpts[0], "250 2.0.0 ok")
	}
	l.Close()
	files, _ := filepath.Glob(path + "*")
	if len(files) != 4 {
		t.Fatalf("want the current file and 3 rotated ones, got %v", files)
	}
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.Size() > 2000 {
			t.Errorf("%s is %d bytes, over the limit", f, fi.Size())
		}
	}
	l, _ = Open(path, 2000, 3)
	defer l.Close()
	got, err := l.Search(Query{ID: "<m39@example.org>"})
	if err != nil || len(got) != 2 || got[0].Event != "receive" || got[1].Event != "send" || got[1].Reply != "250 2.0.0 ok" {
		t.Fatalf("search by Message-ID: %+v %v", got, err)
	}
	if got, _ := l.Search(Query{Recipient: "R38@"}); len(got) != 2 {
		t.Errorf("search by recipient: %d", len(got))
	}
	if got, _ := l.Search(Query{ID: queue.ID(40).String()}); len(got) != 2 {
		t.Errorf("search by umbra id: %d", len(got))
	}
	if got, _ := l.Search(Query{Sender: "s0@"}); len(got) != 0 {
		t.Errorf("the oldest entries should have been rotated away: %+v", got)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "Subject") || strings.Count(string(b), "\n") == 0 {
		t.Errorf("log content: %s", b)
	}
}

// Every line carries the organisation message id, and a search by it
// finds the message's events (SR-14) — also those of another queue id
// (a resubmitted copy) with the same org id.
func TestSearchByOrgID(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	org := "0123456789abcdef0123456789abcdef"
	a := &queue.Message{ID: 1, OrgID: org, Rcpts: []queue.Recipient{{Addr: "b@x.test"}}}
	b := &queue.Message{ID: 2, OrgID: org, Rcpts: []queue.Recipient{{Addr: "b@x.test"}}}
	c := &queue.Message{ID: 3, OrgID: "ffffffffffffffffffffffffffffffff", Rcpts: []queue.Recipient{{Addr: "b@x.test"}}}
	l.Event("receive", a, nil, "")
	l.Event("takeover", b, nil, "")
	l.Event("receive", c, nil, "")
	got, err := l.Search(Query{ID: strings.ToUpper(org)})
	if err != nil || len(got) != 2 || got[0].OrgID != org || got[1].ID != b.ID.String() {
		t.Fatalf("search by org id: %+v %v", got, err)
	}
}

// The log is greppable: a Message-ID or address is written with its angle
// brackets as they are, not as \u003c…\u003e.
func TestLinesAreNotHTMLEscaped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{ID: 7, From: "a&b@example.org", MessageID: "<id.1@example.org>", Rcpts: []queue.Recipient{{Addr: "r@example.net"}}}
	l.Event("receive", m, nil, "")
	l.Close()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"<id.1@example.org>"`) || !strings.Contains(string(b), `"a&b@example.org"`) {
		t.Fatalf("escaped line: %s", b)
	}
}

// Search reads the files without the daemon, bounded by time and event.
func TestSearchFilesByTimeAndEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 1500, 5)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var now time.Time
	l.now = func() time.Time { return now }
	for i := 0; i < 20; i++ {
		now = base.Add(time.Duration(i) * time.Minute)
		m := &queue.Message{ID: queue.ID(i + 1), From: "s@example.org", Rcpts: []queue.Recipient{{Addr: "r@example.net"}}}
		l.Event("receive", m, nil, "")
		l.Event("deliver", m, &m.Rcpts[0], "250 ok")
	}
	l.Close()
	got, err := Search(path, 5, Query{Since: base.Add(5 * time.Minute), Until: base.Add(8 * time.Minute), Events: []string{"deliver"}})
	if err != nil || len(got) != 3 {
		t.Fatalf("deliveries in [12:05, 12:08): %d %v", len(got), err)
	}
	for i, e := range got {
		if e.Event != "deliver" || !e.Time.Equal(base.Add(time.Duration(5+i)*time.Minute)) {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if got, _ := Search(path, 5, Query{Events: []string{"receive"}, Limit: 2}); len(got) != 2 || got[1].ID != queue.ID(20).String() {
		t.Errorf("the newest two receives: %+v", got)
	}
}

// A receive line names the client's HELO; a recipient's line carries
// delay=, the seconds since arrival.
func TestHeloAndDelay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	arrived := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return arrived.Add(90*time.Second + 250*time.Millisecond) }
	m := &queue.Message{ID: 1, From: "s@example.org", Helo: "client.example", Arrived: arrived, Rcpts: []queue.Recipient{{Addr: "r@example.net"}}}
	l.Event("receive", m, nil, "")
	l.Event("send", m, &m.Rcpts[0], "250 ok")
	l.Close()
	es, _ := Search(path, 0, Query{})
	if len(es) != 2 || es[0].Helo != "client.example" || es[1].Delay != 90.25 {
		t.Fatalf("%+v", es)
	}
}
