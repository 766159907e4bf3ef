package tracking

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

func reflectLine(t testing.TB, e *Entry) (string, bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(e.textBytes()) != nil {
		return "", false
	}
	return string(jsonsafe.Escape(buf.Bytes())), true
}

func checkEntry(t testing.TB, e *Entry) {
	want, wok := reflectLine(t, e)
	got, gok := appendEntry(nil, e)
	if gok != wok || string(got) != want {
		t.Fatalf("entry %+v:\n got %q (%v)\nwant %q (%v)", e, got, gok, want, wok)
	}
}

// TestAppendEntryMatchesJSON: the hand-written line is encoding/json's
// of the entry with jsonsafe.TextBytes applied, with jsonsafe.Escape applied,
// for every field empty and set, the escapes JSON has, invalid UTF-8,
// the line and paragraph separators, floats in both notations, times
// with and without fractions and offsets, and those JSON refuses.
func TestAppendEntryMatchesJSON(t *testing.T) {
	base := time.Date(2026, 11, 30, 20, 53, 11, 123456789, time.UTC)
	checkEntry(t, &Entry{})
	checkEntry(t, &Entry{Time: base, Event: "send", ID: "0000000000001A2B", Sender: "a@example.org",
		Recipients: []string{"b@remote.example"}, Size: 4096, Queue: "smtp:remote.example", NextHop: "127.0.0.1:2525",
		Reply: "250 2.0.0 Ok: queued as 1234", Delay: 0.004})
	checkEntry(t, &Entry{Time: base.Truncate(time.Second), Event: "receive", ID: "x", MessageID: "<m@x>", OrgID: "o",
		Sender: "", Recipients: []string{"a", "b", ""}, Size: -1, Connector: "c", ClientIP: "::1", Helo: "h<&>",
		Action: "remove", Actor: "uid=0(root)"})
	for _, s := range []string{"\"\\/\b\f\n\r\t\x00\x01\x1f\x7f", "ä€😀", "\xff\xfe", "a\xe2\x80\xa8b\xe2\x80\xa9c", "\xe2\x80", "<script>&", "\u009b\u202e\u200b\ufeff\U000E0001\ufffd\u00a0é"} {
		checkEntry(t, &Entry{Time: base, Event: s, Sender: s, Reply: s, Recipients: []string{s}})
	}
	for _, d := range []float64{0.001, 1, 123456.789, 1e-7, 5e-324, 1e21, 1e22, -0.5, math.Copysign(0, -1), 1e20, 1.5e-6,
		math.NaN(), math.Inf(1), math.Inf(-1)} {
		checkEntry(t, &Entry{Time: base, Delay: d})
	}
	for _, tm := range []time.Time{base.In(time.FixedZone("x", 5*3600+30*60)), base.In(time.FixedZone("y", -7*3600)),
		base.In(time.FixedZone("z", 37)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1000, time.UTC), base.In(time.FixedZone("w", 24*3600))} {
		checkEntry(t, &Entry{Time: tm, Event: "e"})
	}
}

func FuzzAppendEntry(f *testing.F) {
	f.Add(int64(1764536000123456789), "send", "a@example.org", "b@remote.example", "250 ok", int64(4096), 0.004)
	f.Add(int64(0), "\x00\"\\", "\xff", "\u2028", "<&>", int64(-1), 1e-9)
	f.Fuzz(func(t *testing.T, ns int64, event, sender, rcpt, reply string, size int64, delay float64) {
		e := &Entry{Time: time.Unix(0, ns).UTC(), Event: event, ID: event + "1", Sender: sender, Recipients: []string{rcpt}, RecipientsMore: int(size % 100000),
			Size: size, Reply: reply, NextHop: rcpt, Delay: delay, Actor: sender, Original: event, OriginalMessageID: reply}
		checkEntry(t, e)
	})
}

// BenchmarkWriteEntry: one recipient's line into the log file.
func BenchmarkWriteEntry(b *testing.B) {
	l, err := Open(b.TempDir()+"/tracking.log", 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := Entry{Time: time.Now().UTC(), Event: "send", ID: "0000000000001A2B", Sender: "a@example.org",
		Recipients: []string{"b@remote.example"}, Size: 4096, Queue: "smtp:remote.example", NextHop: "127.0.0.1:2525",
		Reply: "250 2.0.0 Ok: queued as 1234", Delay: 0.004}
	b.ReportAllocs()
	for b.Loop() {
		l.Write(e)
	}
}

// BenchmarkEncodeEntry: the line alone, hand-written and by
// encoding/json.
func BenchmarkEncodeEntry(b *testing.B) {
	e := Entry{Time: time.Now().UTC(), Event: "send", ID: "0000000000001A2B", Sender: "a@example.org",
		Recipients: []string{"b@remote.example"}, Size: 4096, Queue: "smtp:remote.example", NextHop: "127.0.0.1:2525",
		Reply: "250 2.0.0 Ok: queued as 1234", Delay: 0.004}
	b.Run("appendEntry", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendEntry(buf[:0], &e)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reflectLine(b, &e)
		}
	})
}

// TestBatchWritesTheSameLinesAtOnce: a batch's lines are those Event
// writes, in order, and reach the file only when the batch ends.
func TestBatchWritesTheSameLinesAtOnce(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC) }
	one, err := Open(dir+"/one.log", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	all, err := Open(dir+"/all.log", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	one.now, all.now = now, now
	m := &queue.Message{ID: 7, From: "a@example.org", Size: 10, Arrived: now().Add(-time.Second)}
	m.Rcpts = []queue.Recipient{{Addr: "b@example.net", NextHop: "mx"}, {Addr: "c@example.net", NextHop: "mx"}}
	ev, flush := all.Batch()
	for i := range m.Rcpts {
		one.Event("send", m, &m.Rcpts[i], "250 ok")
		ev.Event("send", m, &m.Rcpts[i], "250 ok")
	}
	if b, _ := os.ReadFile(dir + "/all.log"); len(b) != 0 {
		t.Fatalf("written before the batch ended: %q", b)
	}
	flush()
	flush() // a second end writes nothing again
	want, _ := os.ReadFile(dir + "/one.log")
	got, _ := os.ReadFile(dir + "/all.log")
	if string(got) != string(want) || strings.Count(string(got), "\n") != 2 {
		t.Fatalf("batch wrote\n%s\nwant\n%s", got, want)
	}
}

// The tracking log's lines escape what a terminal would act on — C1
// controls (CSI U+009B), DEL, bidirectional overrides and isolates,
// zero-width characters — as the admin API's JSON and the daemon's log
// do (jsonsafe.Escape): `cat tracking.log` cannot be made to move the
// cursor or reverse a line, and the line decodes to the same values.
func TestLineEscapesWhatATerminalActsOn(t *testing.T) {
	path := t.TempDir() + "/tracking.log"
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Time: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), Event: "defer", ID: "1",
		Sender: "\u202emoc.knab@ceo.example", Recipients: []string{"a\u009b31mb@example.net"},
		Reply: "550 5.1.1 no\u200b such\u0085user\u2066 \x7f\U000E0001", Helo: "mx\u0080.example"}
	l.Write(e)
	l.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"\u202e", "\u009b", "\u200b", "\u0085", "\u2066", "\x7f", "\u0080", "\U000E0001"} {
		if strings.Contains(string(raw), c) {
			t.Errorf("the line carries %q raw: %s", c, raw)
		}
	}
	for _, esc := range []string{`\u202e`, `\u009b`, `\u200b`, `\u0085`, `\u2066`, `\u007f`, `\u0080`, `\udb40\udc01`} {
		if !strings.Contains(string(raw), esc) {
			t.Errorf("the line lacks %s: %s", esc, raw)
		}
	}
	var back Entry
	if err := json.Unmarshal(raw, &back); err != nil || back.Sender != e.Sender || back.Reply != e.Reply ||
		back.Helo != e.Helo || len(back.Recipients) != 1 || back.Recipients[0] != e.Recipients[0] {
		t.Errorf("the line does not decode to the entry: %+v %v", back, err)
	}
}

// TestInvalidBytesKeptAsText: a next hop's reply with a byte that is not
// UTF-8 (a Latin-1 é) is written as the text \xe9 — which byte it was —
// and read back so, as the admin API shows such a byte; a line an older
// version wrote with U+FFFD in its place still reads.
func TestInvalidBytesKeptAsText(t *testing.T) {
	path := t.TempDir() + "/tracking.log"
	old := `{"time":"2026-11-30T20:00:00Z","event":"defer","msg_id":"old","sender":"a@example.org","reply":"450 caf\ufffd"}` + "\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write(Entry{Time: time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC), Event: "defer", ID: "new", Sender: "b\xff@example.org",
		Recipients: []string{"r\xe9@remote.example"}, Reply: "450 4.2.0 caf\xe9 \\ ok"})
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"reply":"450 4.2.0 caf\\xe9 \\ ok"`) || strings.Contains(string(raw[len(old):]), `\ufffd`) {
		t.Fatalf("line %q: want the byte as the text \\xe9", raw[len(old):])
	}
	es, err := l.Search(Query{Since: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(es) != 2 {
		t.Fatalf("search: %v, %+v", err, es)
	}
	if es[0].Reply != "450 caf\ufffd" {
		t.Errorf("old line's reply %q, want it as written", es[0].Reply)
	}
	if es[1].Reply != `450 4.2.0 caf\xe9 \ ok` || es[1].Sender != `b\xff@example.org` || es[1].Recipients[0] != `r\xe9@remote.example` {
		t.Errorf("entry read back %+v: want each invalid byte as \\xNN", es[1])
	}
}
