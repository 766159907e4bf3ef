package delivery

import (
	"testing"

	"umbra/internal/queue"
)

// FuzzLimitSize: the size held to configured limits (limitSize, with
// the body; planSize, without) is never below zero nor above the size
// stored, Plan is never stricter than Deliver (planSize <= limitSize),
// and with the bytes the receiving session added known it is exactly
// the size stored less umbra's trace field and those bytes.
func FuzzLimitSize(f *testing.F) {
	f.Add([]byte(traceOf+"Subject: x\r\n\r\nbody\r\n"), int64(0), true)
	f.Add([]byte(traceOf+"Authentication-Results: mx; dkim=none\r\nSubject: x\r\n\r\nbody\r\n"), int64(40), true)
	f.Add([]byte(traceOf+"Subject: fields alone\r\n\r\n"), int64(4), true)
	f.Add([]byte(traceOf+"Subject: fields alone\r\n\r\n"), int64(0), false)
	f.Add([]byte(traceOf+"\r\nno header\r\n"), int64(0), false)
	f.Add([]byte("Subject: no trace\r\n\r\nx\r\n"), int64(1<<40), true)
	f.Add([]byte(""), int64(-5), true)
	f.Add([]byte("Received: from "+string(make([]byte, 2010))+" (umbra) with x\r\n"+string(make([]byte, 3000))), int64(-7), true)
	st := &state{}
	f.Fuzz(func(t *testing.T, body []byte, grown int64, known bool) {
		m := &queue.Message{Size: int64(len(body)), Grown: grown, GrownKnown: known}
		held, plan := limitSize(st, m, body), planSize(st, m)
		if held < 0 || held > m.Size || plan < 0 || plan > held {
			t.Fatalf("stored %d (grown %d, known %v): held %d, planned %d", m.Size, grown, known, held, plan)
		}
		if want := max(m.Size-int64(ownTraceLen(body))-max(grown, 0), 0); known && held != want {
			t.Fatalf("stored %d, trace %d, grown %d: held %d, want %d", m.Size, ownTraceLen(body), grown, held, want)
		}
	})
}
