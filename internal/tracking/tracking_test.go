package tracking

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
