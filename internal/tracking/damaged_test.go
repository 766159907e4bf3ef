package tracking

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A log line umbra did not write (a copy through a tool that unescaped
// it, a line torn by a crash): a raw byte that is not UTF-8 reads as the
// text \xNN umbra writes for it, never as U+FFFD, and a line that is no
// event is not skipped silently: the search is partial, naming the
// file, the count and the first such line.
func TestSearchDamagedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	lines := []string{
		`{"time":"2026-01-02T03:04:05Z","event":"receive","msg_id":"1","sender":"s` + "\xe9" + `@ex.test"}`,
		`{"time":"2026-01-02T03:04:06Z","event":"receive","msg_id":"2","sender":"` + "\x1b" + `@ex.test"}`,
		`{"time":"2026-01-02T03:04:07Z","event":"receive","msg_id":"3","sender":"ok@ex.test"}`,
		`garbage line`,
		`{"time":"2026-01-02T03:04:08Z","event":"receive","msg_id":"4","sender":"é@ex.test"}`,
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	es, err := Search(path, 0, Query{})
	var got []string
	for _, e := range es {
		got = append(got, e.ID+"="+e.Sender)
	}
	if want := `1=s\xe9@ex.test 3=ok@ex.test 4=é@ex.test`; strings.Join(got, " ") != want {
		t.Errorf("entries %q, want %q", strings.Join(got, " "), want)
	}
	var p *Partial
	if !errors.As(err, &p) || len(p.BadLines) != 1 || p.BadLines[0].Count != 2 || p.BadLines[0].First != 2 || p.BadLines[0].Name != path {
		t.Fatalf("err %v (%+v), want 2 unreadable lines of %s, the first line 2", err, p, path)
	}
	if !strings.Contains(err.Error(), "2 lines") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %q does not say how many lines and which first", err)
	}
}

// A Message-ID holding the byte 0xff and one holding the literal text
// \xff are two values: the log writes them apart, and a search finds
// each by the text track shows for it (or the first by the raw byte),
// never both.
func TestByteAndItsEscapeTextAreApart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Entry{Event: "receive", ID: "A", MessageID: "<id\xff1@x>", Sender: "a@ex.test"})
	l.Write(Entry{Event: "receive", ID: "B", MessageID: `<id\xff1@x>`, Sender: "b@ex.test"})
	l.Close()
	for q, want := range map[string]string{`<id\xff1@x>`: "A", "<id\xff1@x>": "A", `<id\\xff1@x>`: "B"} {
		es, err := Search(path, 0, Query{ID: q})
		if err != nil || len(es) != 1 || es[0].ID != want {
			t.Errorf("search %q: %+v %v, want only %s", q, es, err, want)
		}
	}
}

// A control character shows in track's table as \u009b (or \t, a
// surrogate pair above U+FFFF): a query in that shown form finds the
// value that holds the character, as the README says track takes a value
// as shown (rt38 F10). A printable character written as an escape
// (\u0041) is text, as track would never show it so.
func TestSearchTakesControlsAsShown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Entry{Event: "receive", ID: "A", MessageID: "<c\u009b1@x>", Sender: "a\u202e@ex.test", Recipients: []string{"t\tab@ex.test"}})
	l.Write(Entry{Event: "receive", ID: "B", MessageID: "<e\U000E0001@x>", Sender: "b@ex.test", Recipients: []string{"A@ex.test"}})
	// The text of an escape, shown with its backslash doubled (\\u001b,
	// \\t), against the character, shown escaped once.
	l.Write(Entry{Event: "receive", ID: "C", MessageID: "<c@x>", Sender: `lit\u001b@ex.test`, Recipients: []string{`lit\nab@ex.test`}})
	l.Write(Entry{Event: "receive", ID: "D", MessageID: "<d@x>", Sender: "esc\x1b@ex.test", Recipients: []string{"esc\\\tab@ex.test"}})
	l.Close()
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{ID: `<c\u009b1@x>`}, "A"},
		{Query{Sender: `a\u202e@`}, "A"},
		{Query{Recipient: `t\tab`}, "A"},
		{Query{ID: `<e\udb40\udc01@x>`}, "B"},
		{Query{Recipient: `\u0041@`}, ""},
		{Query{Sender: `lit\\u001b@`}, "C"},
		{Query{Sender: `esc\u001b@`}, "D"},
		{Query{Recipient: `lit\\nab`}, "C"},
		{Query{Recipient: `esc\\\tab`}, "D"},
	} {
		es, err := Search(path, 0, c.q)
		got := ""
		for _, e := range es {
			got += e.ID
		}
		if err != nil || got != c.want {
			t.Errorf("search %+v: %q %v, want %q", c.q, got, err, c.want)
		}
	}
}
