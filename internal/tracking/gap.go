package tracking

import (
	"fmt"
	"time"
)

// Gaps (ops48 F5). Events lost to failed writes (lost.go) were counted
// in a metric and said in the daemon's log, and the tracking log held
// nothing of them: `umbra track` over that period answered an empty
// table, and "never happened" read like "not recorded". The first write
// that goes through after lost events is followed by a line of the log's
// own, event "lost": from when (lost_from, the first event lost) to when
// (time, the write that went through) and how many (lost). A search
// returns every gap line whose period overlaps its own, whatever else it
// asks (the events lost could have been any), and `umbra track` says so
// on stderr and exits 5, the answer partial. A gap line that cannot be
// written is kept and tried again after the next write; the events of a
// daemon that stops while writes still fail are in its metric and log
// only.

// GapEvent is the event of a gap line.
const GapEvent = "lost"

// writeGap writes the gap line of the events lost since the last one,
// if any, after a write went through. Called with l.mu held.
func (l *Log) writeGap() {
	if l.gapN == 0 || l.f == nil {
		return
	}
	from := l.gapFrom.UTC()
	e := Entry{Time: l.now().UTC(), Event: GapEvent, LostFrom: &from, Lost: l.gapN,
		Reply: fmt.Sprintf("%d tracking events from %s on were not written (writes failed)", l.gapN, from.Format(time.RFC3339))}
	line, ok := appendEntry(nil, &e)
	if !ok {
		return
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	l.torn = n > 0 && n < len(line)
	if err != nil || n != len(line) {
		return // kept: tried again after the next write
	}
	l.gapN, l.gapFrom = 0, time.Time{}
}

// gapOverlaps reports whether the gap line e's period (LostFrom to
// Time) overlaps q's (Since to Until, Until exclusive).
func (q Query) gapOverlaps(e *Entry) bool {
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	return q.Until.IsZero() || e.LostFrom.Before(q.Until)
}
