package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

// eventLogBefore is eventLog.Event as it was written with untyped
// key-value pairs: the reference the typed attributes must reproduce.
func eventLogBefore(log *slog.Logger, name string, m *queue.Message, r *queue.Recipient, reply string, delay time.Duration) {
	attrs := []any{"event", name, "msg_id", m.ID.String()}
	if r != nil {
		attrs = append(attrs, "rcpt", r.Addr, "next_hop", r.NextHop, "delay", delay, "size", m.Size, "attempts", m.Attempts)
	} else {
		attrs = append(attrs, "from", m.From, "rcpts", len(m.Rcpts), "size", m.Size, "connector", m.Connector)
		if m.ClientIP != "" {
			attrs = append(attrs, "client_ip", m.ClientIP)
		}
	}
	if reply != "" {
		attrs = append(attrs, "reply", reply)
	}
	log.Info("message", attrs...)
}

// TestEventLogLines: the message event lines are the same, key for key
// and value for value, in text and JSON, as the untyped form wrote them.
func TestEventLogLines(t *testing.T) {
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	jsonOpts := &slog.HandlerOptions{ReplaceAttr: func(g []string, a slog.Attr) slog.Attr { return durationSeconds(g, noTime(g, a)) }}
	textOpts := &slog.HandlerOptions{ReplaceAttr: noTime}
	// Arrived in the future by an hour: delay rounds to a fixed value
	// whatever the test's own speed.
	m := &queue.Message{ID: 0x1A2B, From: "a@example.org", Size: 4096, Connector: "loopback", ClientIP: "127.0.0.1",
		Attempts: 2, Arrived: time.Now().Add(-time.Hour)}
	m.Rcpts = []queue.Recipient{{Addr: "b@remote.example", NextHop: "mx.remote.example"}, {Addr: "c@remote.example"}}
	for _, tc := range []struct {
		name  string
		r     *queue.Recipient
		reply string
		ip    string
	}{{"receive", nil, "", "127.0.0.1"}, {"receive", nil, "", ""}, {"send", &m.Rcpts[0], "250 2.0.0 ok \"q\"", ""}, {"defer", &m.Rcpts[1], "", ""}} {
		m.ClientIP = tc.ip
		for _, mk := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, textOpts) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, jsonOpts) },
		} {
			var got, want bytes.Buffer
			eventLog{log: slog.New(mk(&got)).With("component", "queue"), next: nopEvents{}}.Event(tc.name, m, tc.r, tc.reply)
			eventLogBefore(slog.New(mk(&want)).With("component", "queue"), tc.name, m, tc.r, tc.reply,
				time.Since(m.Arrived).Round(time.Millisecond))
			// The delay may round to the next millisecond between the
			// two calls: compare with it taken out when it differs.
			if got.String() != want.String() && !sameButDelay(got.String(), want.String()) {
				t.Fatalf("%s:\n got %s\nwant %s", tc.name, got.String(), want.String())
			}
		}
	}
	var off bytes.Buffer
	eventLog{log: slog.New(slog.NewTextHandler(&off, &slog.HandlerOptions{Level: slog.LevelWarn})), next: nopEvents{}}.Event("receive", m, nil, "")
	if off.Len() != 0 {
		t.Fatalf("event logged above its level: %s", off.String())
	}
}

func sameButDelay(a, b string) bool {
	cut := func(s string) string {
		i := bytes.Index([]byte(s), []byte("delay"))
		if i < 0 {
			return s
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != ',' {
			j++
		}
		return s[:i] + s[j:]
	}
	return cut(a) == cut(b)
}

type nopEvents struct{}

func (nopEvents) Event(string, *queue.Message, *queue.Recipient, string) {}

// BenchmarkEventLog: one recipient's event line, as each delivery
// result writes it.
func BenchmarkEventLog(b *testing.B) {
	var buf bytes.Buffer
	e := eventLog{log: slog.New(slog.NewTextHandler(&buf, nil)).With("component", "queue"), next: nopEvents{}}
	m := &queue.Message{ID: 0x1A2B, From: "a@example.org", Size: 4096, Connector: "loopback", Arrived: time.Now()}
	m.Rcpts = []queue.Recipient{{Addr: "b@remote.example", NextHop: "127.0.0.1:2525"}}
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		e.Event("send", m, &m.Rcpts[0], "250 2.0.0 Ok: queued")
	}
}

// BenchmarkEventLogUntyped: the same line written the untyped way, for
// comparison.
func BenchmarkEventLogUntyped(b *testing.B) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil)).With("component", "queue")
	m := &queue.Message{ID: 0x1A2B, From: "a@example.org", Size: 4096, Connector: "loopback", Arrived: time.Now()}
	m.Rcpts = []queue.Recipient{{Addr: "b@remote.example", NextHop: "127.0.0.1:2525"}}
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		eventLogBefore(log, "send", m, &m.Rcpts[0], "250 2.0.0 Ok: queued", time.Since(m.Arrived).Round(time.Millisecond))
	}
}

// BenchmarkEventLogBatch: the result events of one delivery attempt to
// ten recipients, written as one batch, with the batch buffers pooled
// (as serve sets it up) and without.
func BenchmarkEventLogBatch(b *testing.B) {
	mk := func(w io.Writer) *slog.Logger {
		return slog.New(slog.NewTextHandler(w, nil)).With("component", "queue")
	}
	m := &queue.Message{ID: 0x1A2B, From: "a@example.org", Size: 4096, Connector: "loopback", Arrived: time.Now()}
	for i := range 10 {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: fmt.Sprintf("%db@remote.example", i), NextHop: "127.0.0.1:2525"})
	}
	for _, pooled := range []bool{false, true} {
		b.Run(fmt.Sprintf("rcpts=10/pooled=%v", pooled), func(b *testing.B) {
			e := eventLog{log: mk(io.Discard), next: nopEvents{}, out: io.Discard, batchLog: mk}
			if pooled {
				e.lines = &sync.Pool{}
			}
			b.ReportAllocs()
			for b.Loop() {
				ev, flush := e.Batch()
				for i := range m.Rcpts {
					ev.Event("send", m, &m.Rcpts[i], "250 2.0.0 Ok: queued")
				}
				flush()
			}
		})
	}
}

// countingWriter counts the writes it gets.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

// TestEventLogBatch: a batch of events writes the lines the events write
// one by one, with one write, when it ends; through fanout, a receiver
// that does not batch still gets each event at once.
func TestEventLogBatch(t *testing.T) {
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "delay" {
			return slog.Attr{}
		}
		return a
	}}
	mk := func(w io.Writer) *slog.Logger {
		return slog.New(slog.NewTextHandler(w, opts)).With("component", "queue")
	}
	var plain countingWriter
	var batched countingWriter
	m := &queue.Message{ID: 9, From: "a@example.org", Size: 4096, Arrived: time.Now()}
	m.Rcpts = []queue.Recipient{{Addr: "b@remote.example", NextHop: "mx"}, {Addr: "c@remote.example", NextHop: "mx"}}
	var seen []string
	direct := eventsFunc(func(name string, _ *queue.Message, r *queue.Recipient, _ string) {
		seen = append(seen, name+" "+r.Addr)
	})
	one := eventLog{log: mk(&plain), next: nopEvents{}}
	f := fanout{eventLog{log: mk(&batched), next: nopEvents{}, out: &batched, batchLog: mk}, direct}
	ev, flush := f.Batch()
	for i := range m.Rcpts {
		one.Event("send", m, &m.Rcpts[i], "250 ok")
		ev.Event("send", m, &m.Rcpts[i], "250 ok")
	}
	if batched.writes != 0 || len(seen) != 2 {
		t.Fatalf("before the end: %d writes, direct receiver saw %v", batched.writes, seen)
	}
	flush()
	if batched.writes != 1 || batched.String() != plain.String() || plain.writes != 2 {
		t.Fatalf("batch: %d writes\n%s\nwant 1 write of\n%s", batched.writes, batched.String(), plain.String())
	}

	// With the pool, each batch writes its own lines once, whichever
	// buffer and logger it was given, an empty batch nothing.
	var pooled countingWriter
	pl := eventLog{log: mk(&pooled), next: nopEvents{}, out: &pooled, batchLog: mk, lines: &sync.Pool{}}
	plain.Reset()
	for k := range 5 {
		ev, flush := pl.Batch()
		for i := range k % 3 {
			ev.Event("send", m, &m.Rcpts[i], fmt.Sprintf("250 ok %d", k))
			one.Event("send", m, &m.Rcpts[i], fmt.Sprintf("250 ok %d", k))
		}
		flush()
	}
	if pooled.writes != 3 || pooled.String() != plain.String() {
		t.Fatalf("pooled batches: %d writes\n%s\nwant 3 writes of\n%s", pooled.writes, pooled.String(), plain.String())
	}
}

type eventsFunc func(name string, m *queue.Message, r *queue.Recipient, reply string)

func (f eventsFunc) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	f(name, m, r, reply)
}
