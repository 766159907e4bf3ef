package tracking

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// OPS-4 (rr27 F2, rt27c F3): the log is to touch only files of its own, "not
// empty and not starting with umbra's tracking line ({"time":"…)" being
// refused. ownHead also takes a first line that is a prefix of
// `{"time":"` for a torn first line — so any file whose first line is
// "{" (every pretty-printed JSON document: a Docker daemon.json, another
// program's state file) is taken as a tracking log: Open appends to it,
// and a rotation renames it and a later one deletes it.
func TestOPS4PrettyJSONIsNoTrackingLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "daemon.json")
	doc := []byte("{\n  \"storage-driver\": \"overlay2\",\n  \"log-level\": \"warn\"\n}\n")
	os.WriteFile(path, doc, 0o600)
	if err := CheckPath(path, 1); err == nil {
		t.Errorf("CheckPath(%s) accepted a JSON document that holds no tracking line", path)
	}
	l, err := Open(path, 4<<10, 1)
	if err == nil {
		l.Write(Entry{Time: time.Now(), Event: "receive", ID: "1"})
		l.Close()
		t.Errorf("Open accepted it")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, doc) {
		t.Fatalf("%s changed:\n%s", path, after)
	}
}

// OPS-4: which heads are the log's own. A line shorter than {"time":"
// is taken only as a torn start of one, followed by another such line,
// a whole tracking line, or the end of what is read.
func TestOPS4OwnHeadTornLinesOnly(t *testing.T) {
	line := `{"time":"2026-12-04T23:00:00Z","event":"receive","msg_id":"1"}` + "\n"
	for _, c := range []struct {
		head string
		own  bool
	}{
		{"", true},
		{"{", true},
		{`{"ti`, true},
		{"{\n", true},                // a torn line, ended at the next open
		{`{"ti` + "\n" + line, true}, // and the next event after it
		{`{"ti` + "\n" + `{"tim`, true},
		{`{"ti` + "\n" + `{"tim` + "\n" + line, true}, // torn twice (a full disk)
		{line + "anything\n", true},
		{"{\n  \"storage-driver\": \"overlay2\"\n}\n", false},
		{"{\n}\n", false},
		{"{\n\n", false},
		{"\n", false},
		{"{\n{\"a\":1}\n", false},
		{"[\n", false},
		{`{"title":"x"}` + "\n", false},
	} {
		if got := ownHead([]byte(c.head)); got != c.own {
			t.Errorf("ownHead(%q) = %v, want %v", c.head, got, c.own)
		}
	}
}

// OPS-4: a log whose first line a crash tore is still the log's own
// after the next start ended it and wrote on.
func TestOPS4TornFirstLineStaysOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	os.WriteFile(path, []byte("{"), 0o600)
	for i := range 2 {
		l, err := Open(path, 4<<10, 1)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		l.Write(Entry{Time: time.Now(), Event: "receive", ID: "1"})
		l.Close()
	}
	if err := CheckPath(path, 1); err != nil {
		t.Fatal(err)
	}
}
