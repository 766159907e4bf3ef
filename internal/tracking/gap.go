package tracking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"syscall"
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
// written is kept and tried again after the next write. A log closed
// with a gap not written (a daemon that stops while writes still fail)
// tries it once more, and else keeps it in a file beside the log,
// <path>.gap ("<lost> <first lost, Unix nanoseconds>"): the next Open
// takes it up, its first write that goes through writes the gap line,
// and the file goes then; a start killed between the two finds the line
// at the log's end (gapWritten) and removes the file without a second. Only if that file cannot be written either is
// the gap said in the daemon's log alone (an ERROR naming the count and
// its start). A gap line is a line like any other: one that would take
// the file past max_size rotates it first.

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
	if l.maxSize > 0 && l.size > 0 && l.size+int64(len(line)) > l.maxSize {
		l.rotate() // as Write rotates before a line that would not fit
		l.pruneLocked()
		if l.f == nil {
			return // kept: tried again after the next write
		}
	}
	if l.torn {
		n, _ := l.f.Write([]byte{'\n'})
		l.size += int64(n)
		if l.torn = n != 1; l.torn {
			return
		}
	}
	if l.size == 0 {
		l.first = e.Time
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	l.torn = n > 0 && n < len(line)
	if err != nil || n != len(line) {
		return // kept: tried again after the next write
	}
	l.gapN, l.gapFrom = 0, time.Time{}
	if l.gapKept {
		os.Remove(gapPath(l.path)) // written: the kept one is spent
		l.gapKept = false
	}
}

// gapPath is the file a closed log keeps its unwritten gap in.
func gapPath(path string) string { return path + ".gap" }

// keepGap is Close's part: the gap line not written is tried once more
// (the file opened again if a rotation left none), and else kept in
// gapPath for the next Open. Called with l.mu held.
func (l *Log) keepGap() {
	if l.gapN == 0 {
		return
	}
	if l.f == nil {
		l.openAt = time.Time{}
		l.openAgain()
	}
	l.writeGap()
	if l.gapN == 0 {
		return
	}
	v := fmt.Sprintf("%d %d\n", l.gapN, l.gapFrom.UnixNano())
	f, err := os.OpenFile(gapPath(l.path), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o640)
	if err == nil {
		_, err = f.WriteString(v)
		if serr := f.Sync(); err == nil {
			err = serr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		l.gapN, l.gapFrom, l.gapKept = 0, time.Time{}, false // the file holds it now
		return
	}
	os.Remove(gapPath(l.path)) // a part of it would be read as another count
	msg := fmt.Sprintf("tracking log closed with %d lost events it does not record (from %s on): its gap line could not be written, nor kept in %s",
		l.gapN, l.gapFrom.UTC().Format(time.RFC3339), gapPath(l.path))
	if l.log != nil {
		l.log.Error(msg, "path", l.path, "lost", l.gapN, "err", err)
	} else {
		fmt.Fprintf(os.Stderr, "umbra: %s: %v\n", msg, err)
	}
}

// takeKeptGap reads at Open the gap a log closed before kept
// (keepGap): its first write that goes through writes the line.
func (l *Log) takeKeptGap() {
	f, err := os.OpenFile(gapPath(l.path), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() > 64 {
		return
	}
	var b [64]byte
	k, _ := f.Read(b[:])
	var n int
	var from int64
	if _, err := fmt.Sscanf(string(b[:k]), "%d %d\n", &n, &from); err != nil || n <= 0 || from <= 0 {
		return
	}
	if gapWritten(l.path, n, time.Unix(0, from)) {
		// A start killed between writing the line and removing the
		// file: the line is the log's last, and a second would count
		// the lost events twice.
		os.Remove(gapPath(l.path))
		return
	}
	l.gapN, l.gapFrom, l.gapKept = n, time.Unix(0, from), true
}

// gapTail is how much of the log's end gapWritten reads: the kept gap's
// line, written just before its file is removed, is among the last.
const gapTail = 64 << 10

// gapWritten reports whether the end of the log at path holds the gap
// line of n events lost from from on (writeGap wrote it, and the file
// that kept it was not removed).
func gapWritten(path string, n int, from time.Time) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	off := max(fi.Size()-gapTail, 0)
	b := make([]byte, fi.Size()-off)
	k, _ := f.ReadAt(b, off)
	for _, line := range bytes.Split(b[:k], []byte{'\n'}) {
		if !bytes.Contains(line, []byte(`"lost"`)) {
			continue
		}
		var e Entry
		if json.Unmarshal(line, &e) == nil && e.Event == GapEvent && e.Lost == n && e.LostFrom != nil && e.LostFrom.Equal(from) {
			return true
		}
	}
	return false
}

// gapOverlaps reports whether the gap line e's period (LostFrom to
// Time) overlaps q's (Since to Until, Until exclusive).
func (q Query) gapOverlaps(e *Entry) bool {
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	return q.Until.IsZero() || e.LostFrom.Before(q.Until)
}
