package tracking

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The log files umbra track reads can hold anything: a line torn by a
// crash, a copy through a tool, an operator's edit. Search never
// panics, reports what it skipped as a *Partial, returns only entries
// the query matches and at most Limit of them, and an entry it returns
// written again by the log reads back the same.
func FuzzSearch(f *testing.F) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var good []byte
	for _, e := range []Entry{
		{Time: base, Event: "receive", ID: "0000000000001a2b", MessageID: "<m@x.test>", Sender: "a@x.test", Recipients: []string{"b@y.test"}, Size: 12, ClientIP: "127.0.0.1", Helo: "h"},
		{Time: base.Add(time.Second), Event: "send", ID: "0000000000001a2b", Sender: "a@x.test", Recipients: []string{"b@y.test"}, NextHop: "127.0.0.2:25", Reply: "250 2.0.0 ok", Delay: 0.25},
		{Time: base.Add(2 * time.Second), Event: "admin", Action: "remove", Actor: "uid=0(root)", ID: "0000000000001a2b"},
		{Time: base.Add(3 * time.Second), Event: "dsn", ID: "0000000000001a2c", MessageID: "<0000000000001a2c.dsn@x.test>", Recipients: []string{"a@x.test"},
			Reply: "DSN (failed) on 0000000000001a2b <m@x.test>", Original: "0000000000001a2b", OriginalMessageID: "<m@x.test>"},
	} {
		good, _ = appendEntry(good, &e)
	}
	f.Add(good, "", "", uint8(0))
	f.Add(good[:len(good)-7], "0000000000001A2B", "x.test", uint8(1))
	f.Add([]byte("\n\n{\"time\":\"2026-01-02T03:04:05Z\",\"event\":\"receive\",\"msg_id\":\"1\",\"sender\":\"s\xe9@x\"}\n"), "1", "\xe9", uint8(2))
	f.Add([]byte("{}\n[]\nnull\n\"x\"\n{\"time\":\"x\"}\n{\"recipients\":[1]}\n"), "", "", uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, id, sender string, limit uint8) {
		path := filepath.Join(t.TempDir(), "tracking.log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		q := Query{ID: id, Sender: sender, Limit: int(limit % 4)}
		out, err := Search(path, 1, q)
		var p *Partial
		if err != nil && !errors.As(err, &p) {
			t.Fatalf("search: %v", err)
		}
		if max := max(q.Limit, 0); q.Limit > 0 && len(out) > max {
			t.Fatalf("%d entries for limit %d", len(out), q.Limit)
		}
		if n := strings.Count(string(data), "\n") + 1; len(out) > n {
			t.Fatalf("%d entries from %d lines", len(out), n)
		}
		firstLineTime(path)
		for i := range out {
			e := &out[i]
			qq := q
			if !utf8.ValidString(qq.ID) || !utf8.ValidString(qq.Sender) {
				continue // matched as the log writes the byte (Search)
			}
			if !qq.match(e) {
				t.Fatalf("entry %+v does not match %+v", e, q)
			}
			if hasBackslash(e) {
				continue // TextBytes doubles some backslashes (jsonsafe)
			}
			line, ok := appendEntry(nil, e)
			if !ok {
				continue
			}
			again := filepath.Join(t.TempDir(), "again.log")
			if err := os.WriteFile(again, line, 0o600); err != nil {
				t.Fatal(err)
			}
			back, err := Search(again, 0, Query{})
			if err != nil || len(back) != 1 {
				t.Fatalf("entry %+v written as %q reads back as %+v, %v", e, line, back, err)
			}
			if !back[0].Time.Equal(e.Time) {
				t.Fatalf("time %v reads back as %v", e.Time, back[0].Time)
			}
			back[0].Time, e.Time = time.Time{}, time.Time{}
			if !reflect.DeepEqual(back[0], *e) {
				t.Fatalf("entry %+v written as %q reads back as %+v", *e, line, back[0])
			}
		}
	})
}

func hasBackslash(e *Entry) bool {
	for _, s := range append([]string{e.Event, e.ID, e.MessageID, e.OrgID, e.Sender, e.Connector, e.ClientIP, e.Helo,
		e.Queue, e.NextHop, e.Reply, e.Action, e.Actor, e.Original, e.OriginalMessageID}, e.Recipients...) {
		if strings.Contains(s, `\`) {
			return true
		}
	}
	return false
}
