package tracking

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/config"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"

	"umbra/internal/panicline"
)

// Entry is one line of the tracking log.
type Entry struct {
	Time       time.Time `json:"time"`
	Event      string    `json:"event"`
	ID         string    `json:"msg_id"`
	MessageID  string    `json:"message_id,omitempty"`
	OrgID      string    `json:"org_id,omitempty"` // organisation message id (SR-14)
	Sender     string    `json:"sender"`
	Recipients []string  `json:"recipients,omitempty"`
	// RecipientsMore counts the recipients an entry does not name: an
	// operator action's audit entry names at most a few of a message's
	// recipients (admin.RecipientsShown) and counts the rest.
	RecipientsMore int    `json:"recipients_more,omitempty"`
	Size           int64  `json:"size,omitempty"`
	Connector      string `json:"connector,omitempty"`
	ClientIP       string `json:"client_ip,omitempty"`
	Helo           string `json:"helo,omitempty"` // the client's EHLO/HELO name (receive)
	Queue          string `json:"queue,omitempty"`
	NextHop        string `json:"next_hop,omitempty"`
	Reply          string `json:"reply,omitempty"`
	// Delay is the time from arrival to this event, in seconds, on a
	// recipient's event.
	Delay float64 `json:"delay,omitempty"`
	// Operator actions (event "admin"): what was done and by whom, as
	// the admin socket saw the peer ("uid=0(root)").
	Action string `json:"action,omitempty"`
	Actor  string `json:"actor,omitempty"`
	// A DSN's event ("dsn") names the message it reports on: its queue
	// id and Message-ID, so that a search for the original finds it.
	Original          string `json:"original,omitempty"`
	OriginalMessageID string `json:"original_message_id,omitempty"`
	// A gap (event "lost", gap.go): Lost events from LostFrom to Time
	// were not written — writes failed (a full disk) — and the first
	// write after them wrote this line.
	LostFrom *time.Time `json:"lost_from,omitempty"`
	Lost     int        `json:"lost,omitempty"`
}

// Log is an open tracking log. It implements queue.Events.
type Log struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	held fileID // f's device and inode, taken when it was opened (reopen.go)
	size int64
	err  error // the last write error, reported once
	// torn: the file does not end in a newline (a crash mid-write
	// before this open, or a write cut short since): the next write
	// starts a new line, so that only the torn line is lost.
	torn bool
	now  func() time.Time

	// Age bound (retention.go).
	maxAge time.Duration
	first  time.Time // the current file's first entry
	stop   chan struct{}
	pruned prometheus.Counter
	// prunePanics counts recovered panics of the hourly pruning
	// (pruneRecovered); panics gates their log lines.
	prunePanics prometheus.Counter
	panics      panicline.Gate

	// Events lost to failed writes (lost.go).
	lost     prometheus.Counter
	log      *slog.Logger
	lostRun  int       // events lost since the last line about them
	lostLast time.Time // that line
	failing  bool      // the last write failed
	gapFrom  time.Time // the first event lost since the last gap line (gap.go)
	gapN     int       // events lost since the last gap line
	gapKept  bool      // the gap came from the file a closed log kept it in (gap.go)
	openAt   time.Time // no open of a file that could not be opened is tried again before it
	// rotateRefused: a rotation found a file not the log's own and was
	// refused (said once until one goes through; owned.go).
	rotateRefused bool
}

// Open opens (or creates) the log at path.
func Open(path string, maxSize int64, maxFiles int) (*Log, error) {
	l := &Log{path: path, maxSize: maxSize, maxFiles: maxFiles, now: time.Now, lost: newLostCounter(),
		prunePanics: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_tracking_log_prune_panics_total",
			Help: "Hourly prunings of the tracking log that panicked (a defect), recovered: the log went on, the next hour tried again."})}
	// The rotated files first: the current one is created when missing.
	if err := checkRotated(path, maxFiles); err != nil {
		return nil, err
	}
	if err := checkHeld(path, maxFiles); err != nil { // lockprobe.go
		return nil, err
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	l.takeKeptGap() // gap.go: events a closed log lost and could not say
	return l, nil
}

func (l *Log) open() error {
	// O_NONBLOCK: a FIFO in the log's place must not hang the start
	// (opening one for writing waits for a reader); it is refused below.
	// O_NOFOLLOW: a symbolic link at the path is never followed (a
	// dangling one made the open create its target wherever it pointed,
	// one that resolves was written through and then rotated as the
	// link): refused, naming it (linkRefused). The log is the file
	// tracking.path names.
	// Read and write: the last byte is read to see whether a crash
	// left a torn line.
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_RDWR|os.O_APPEND|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0o640)
	if err != nil {
		if lerr := linkRefused(l.path); lerr != nil {
			return lerr
		}
		// What is there, named by its kind: a directory (EISDIR), a
		// socket (ENXIO, which a FIFO without a reader gives too).
		if fi, serr := os.Stat(l.path); serr == nil && !fi.Mode().IsRegular() {
			return notRegular(l.path, fi.Mode())
		}
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return notRegular(l.path, fi.Mode())
	}
	// Only a file of the log's own is written, and only by this log
	// (owned.go): checked before anything is written to it.
	if err := checkOwn(l.path, f); err != nil {
		f.Close()
		return err
	}
	if err := lock(l.path, f); err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	l.held = fileIDOf(fi)
	l.first = time.Time{}
	l.torn = false
	if l.size > 0 {
		l.first = firstLineTime(l.path)
		// A crash mid-write left the last line without its newline:
		// end it now, or the first event after the start would be
		// written onto it and skipped with it as damaged.
		var last [1]byte
		if _, err := f.ReadAt(last[:], l.size-1); err == nil && last[0] != '\n' {
			n, err := f.Write([]byte{'\n'})
			l.size += int64(n)
			l.torn = err != nil || n != 1
		}
	}
	return nil
}

// Event implements queue.Events.
func (l *Log) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	l.Write(l.entry(name, m, r, reply))
}

// entry is the line of one message event.
func (l *Log) entry(name string, m *queue.Message, r *queue.Recipient, reply string) Entry {
	e := Entry{Time: l.now().UTC(), Event: name, ID: m.ID.String(), MessageID: m.MessageID, OrgID: m.OrgID, Sender: m.From,
		Size: m.Size, Reply: reply}
	if m.ReportOn != 0 {
		e.Original, e.OriginalMessageID = m.ReportOn.String(), m.ReportOnMessageID
	}
	if r != nil {
		e.Recipients, e.Queue, e.NextHop = []string{r.Addr}, r.Queue, r.NextHop
		if at := m.ArrivedHere(); !at.IsZero() { // its receipt, which no release moves
			e.Delay = math.Round(e.Time.Sub(at).Seconds()*1000) / 1000
		}
	} else {
		if name == "poison" {
			e.Queue = queue.QueuePoison // the message went there as a whole (the metric's queue_type)
		}
		e.Connector, e.ClientIP, e.Helo = m.Connector, m.ClientIP, m.Helo
		for _, rc := range m.Rcpts {
			e.Recipients = append(e.Recipients, rc.Addr)
		}
	}
	return e
}

// Write appends one entry, rotating first when the file is full.
func (l *Log) Write(e Entry) {
	// Addresses and Message-IDs are written as they are (<id@host>),
	// not HTML-escaped, so that grep finds them.
	bp := lineBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 { // a rare huge line is not kept
			lineBufs.Put(bp)
		}
	}()
	line, ok := appendEntry((*bp)[:0], &e)
	*bp = line
	if !ok {
		return
	}
	l.writeLines(line, e.Time)
}

// writeLines appends whole lines (one entry's, or a batch's) with one
// write, rotating first when the file is full; t is the first line's
// time.
func (l *Log) writeLines(line []byte, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.moved() { // an outside rotation (reopen.go)
		l.reopenLocked()
	}
	if l.f == nil {
		l.openAgain() // lost.go: a rotation's open failed (a full disk); space may be back
	}
	if l.f == nil {
		l.noteLost(bytes.Count(line, []byte{'\n'}), t, errNoFile) // lost.go
		return
	}
	if l.maxSize > 0 && l.size+int64(len(line)) > l.maxSize && l.size > 0 ||
		l.maxAge > 0 && l.size > 0 && !l.first.IsZero() && t.Sub(l.first) >= rotateEvery {
		l.rotate()
		l.pruneLocked()
		if l.f == nil { // its new file could not be opened (reported)
			l.noteLost(bytes.Count(line, []byte{'\n'}), t, errNoFile)
			return
		}
	}
	if l.size == 0 {
		l.first = t
	}
	if l.torn {
		n, _ := l.f.Write([]byte{'\n'})
		l.size += int64(n)
		l.torn = n != 1
		if l.torn {
			l.noteLost(bytes.Count(line, []byte{'\n'}), t, errTorn) // the line would be written onto the torn one
			return
		}
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	// A write cut short (a full disk) leaves a torn line: the next
	// starts a new one.
	l.torn = n > 0 && n < len(line)
	if err != nil {
		// The lines whose end was not written are lost, the torn one
		// included (lost.go).
		l.noteLost(bytes.Count(line[n:], []byte{'\n'}), t, err)
		return
	}
	l.noteWritten()
	l.writeGap() // gap.go: the events lost before this write, said in the log itself
}

func (l *Log) rotate() {
	if err := l.mayRotate(); err != nil { // owned.go
		if !l.rotateRefused {
			l.rotateRefused = true
			if l.log != nil {
				l.log.Error("tracking log not rotated: it renames and deletes only its own files; it keeps writing its current file", "path", l.path, "err", err)
			} else {
				fmt.Fprintf(os.Stderr, "umbra: tracking log %s not rotated: %v\n", l.path, err)
			}
		}
		return
	}
	l.rotateRefused = false
	l.f.Close()
	os.Remove(fmt.Sprintf("%s.%d", l.path, l.maxFiles))
	for i := l.maxFiles - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1))
	}
	if l.maxFiles > 0 {
		os.Rename(l.path, l.path+".1")
	} else {
		os.Remove(l.path)
	}
	if err := l.open(); err != nil {
		l.f = nil
		l.report(err)
	}
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keepGap() // gap.go: lost events are said in the log, now or at the next start
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if l.stop != nil {
		close(l.stop)
		l.stop = nil
	}
	return err
}

// Events are the event names the log holds: `umbra track --event` takes
// only these.
var Events = []string{"receive", "send", "deliver", "defer", "fail", "dsn", "bounce-lost", "poison", "remove", "shadow", "discard",
	"takeover", "giveback", "resubmit", "duplicate-suppressed", "admin", "quarantine", "release", "results-pending", "repeat",
	"finished-elsewhere", "held-elsewhere", "single-copy", GapEvent}

// givenBackReply starts the reply of a giveback event: copies taken over
// made held copies again for their returning primary.
const givenBackReply = "given back to "

// readOldEvent reads an entry written before an event got a name of its
// own as that event: copies given back to their primary were takeover
// events with a "given back to" reply until giveback.
func readOldEvent(e *Entry) {
	if e.Event == "takeover" && strings.HasPrefix(e.Reply, givenBackReply) {
		e.Event = "giveback"
	}
}

// Query selects entries; empty fields match everything. ID matches the
// umbra id, the Message-ID or the organisation message id (which follows
// the message from server to server), and a DSN's event by the umbra id
// or Message-ID of the message it reports on; Sender and Recipient match
// substrings, case-insensitively.
type Query struct {
	ID        string
	Sender    string
	Recipient string
	// Since and Until bound the entries' time (zero: unbounded; Until is
	// exclusive).
	Since, Until time.Time
	// Events: only these events (receive, deliver, remove, admin, …).
	Events []string
	Limit  int
}

// match: e is one q finds (one entry; Search prepares q once).
func (q Query) match(e *Entry) bool { return q.matcher().match(e) }

// queryMatcher is a Query with the forms it is compared in computed
// once per search, not once per log entry.
type queryMatcher struct {
	q                 Query
	bare              string    // the id without its angle brackets
	idForms           [3]string // q.ID, "<"+bare+">", bare, each cut as a Message-ID is kept
	sender, recipient string    // lower case
}

func (q Query) matcher() *queryMatcher {
	m := &queryMatcher{q: q, sender: strings.ToLower(q.Sender), recipient: strings.ToLower(q.Recipient)}
	if q.ID != "" {
		m.bare = strings.Trim(q.ID, "<>")
		m.idForms = [3]string{queue.CutMessageID(q.ID), queue.CutMessageID("<" + m.bare + ">"), queue.CutMessageID(m.bare)}
	}
	return m
}

func (m *queryMatcher) match(e *Entry) bool {
	q := &m.q
	if !q.Since.IsZero() && e.Time.Before(q.Since) || !q.Until.IsZero() && !e.Time.Before(q.Until) {
		return false
	}
	if len(q.Events) > 0 {
		ok := false
		for _, ev := range q.Events {
			ok = ok || strings.EqualFold(ev, e.Event)
		}
		if !ok {
			return false
		}
	}
	if q.ID != "" && !m.idMatch(e.ID, e.MessageID) && !(e.OrgID != "" && strings.EqualFold(e.OrgID, q.ID)) &&
		!(e.Original != "" && m.idMatch(e.Original, e.OriginalMessageID)) {
		return false
	}
	if q.Sender != "" && !strings.Contains(strings.ToLower(e.Sender), m.sender) {
		return false
	}
	if q.Recipient != "" {
		ok := false
		for _, r := range e.Recipients {
			ok = ok || strings.Contains(strings.ToLower(r), m.recipient)
		}
		return ok
	}
	return true
}

// idMatch reports whether the query's id is the umbra id (any case) or
// the Message-ID (with or without its angle brackets; a longer one than
// is kept compared as kept: queue.CutMessageID).
func (m *queryMatcher) idMatch(id, messageID string) bool {
	if strings.EqualFold(id, m.q.ID) {
		return true
	}
	if messageID == "" {
		return false
	}
	for _, v := range m.idForms {
		if messageID == v {
			return true
		}
	}
	return strings.Trim(messageID, "<>") == m.bare
}

// Search reads the rotated files and the current one, oldest first, and
// returns the matching entries (the newest Limit of them).
func (l *Log) Search(q Query) ([]Entry, error) {
	return Search(l.path, l.maxFiles, q)
}

// Search reads the log at path and its rotated files (path.1 … path.N,
// N = maxFiles) as Log.Search does, without a running daemon: the files
// are only read, never through a symbolic link at a name (openNoFollow:
// the daemon writes none). A file that cannot be read (a link,
// not a regular file — a FIFO would block the reader for ever —, no permission, a read error
// or a line over 1 MiB part way) is skipped: the entries of the others
// are returned with a *Partial error naming each skipped file. So is a
// line that is no tracking event (torn by a crash, foreign): skipped, and
// counted in the *Partial with the number of the first such line of its
// file. A raw byte that is not UTF-8 in a line reads as the text \xNN
// (rawBytesAsText).
func Search(path string, maxFiles int, q Query) ([]Entry, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	// A query holding a byte that is not UTF-8 looks for it as the log
	// writes it (jsonsafe.TextBytes); a valid one is the text track shows.
	for _, p := range []*string{&q.ID, &q.Sender, &q.Recipient} {
		if !utf8.ValidString(*p) {
			*p = jsonsafe.TextBytes(*p)
		}
	}
	// A query as track's table shows a control character (\u009b, \t;
	// the text of such an escape shown \\u009b) also finds the value
	// as shown (jsonsafe.FromShown), and \xNN byte escapes read as the
	// bytes when they make UTF-8 (jsonsafe.FromTextBytes, as message
	// list --from reads them; bytes that are not UTF-8 the log holds as
	// that text already).
	shown, alt := q, false
	for _, p := range []*string{&shown.ID, &shown.Sender, &shown.Recipient} {
		v, ok := jsonsafe.FromShown(*p)
		if b := jsonsafe.FromTextBytes(v); utf8.ValidString(b) && nonASCII(b) > nonASCII(v) {
			v, ok = b, true // a byte escape decoded, not only a run halved
		}
		*p = v
		alt = alt || ok
	}
	mq, ms := q.matcher(), shown.matcher()
	// A directory this user may not search makes every name of it
	// fail alike, the files that exist and those that do not: said
	// once, of the directory, not once per rotation name guessed
	// (rt28c F5). An lstat needs no right on the file itself.
	if _, err := os.Lstat(path); err != nil && !os.IsNotExist(err) {
		if dir := filepath.Dir(path); errors.Is(err, fs.ErrPermission) {
			if _, derr := os.Stat(dir); derr == nil {
				err = fmt.Errorf("cannot search the directory: %w", err)
			}
			return nil, &Partial{Skipped: []Skipped{{Name: dir, Dir: true, Err: err}}}
		}
	}
	var files []string
	for i := maxFiles; i >= 1; i-- {
		files = append(files, fmt.Sprintf("%s.%d", path, i))
	}
	files = append(files, path)
	var out []Entry
	var partial Partial
	for _, name := range files {
		f, err := openNoFollow(name)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil && name != path {
			if lerr := rotatedLinkSkipped(name); lerr != nil {
				err = lerr // not linkRefused's tracking.path advice (rt30c F2)
			}
		}
		if err != nil {
			partial.Skipped = append(partial.Skipped, Skipped{Name: name, Err: err})
			continue
		}
		partial.Read++
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		bad := BadLines{Name: name}
		for n := 1; sc.Scan(); n++ {
			var e Entry
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			if json.Unmarshal(rawBytesAsText(sc.Bytes()), &e) != nil {
				if bad.Count++; bad.First == 0 {
					bad.First = n
				}
				continue
			}
			readOldEvent(&e)
			if e.Event == GapEvent && e.Lost > 0 && e.LostFrom != nil {
				// A gap is in every answer whose period it overlaps,
				// whatever else the query asks: the events lost could
				// be any (gap.go).
				if q.gapOverlaps(&e) {
					out = append(out, e)
					if len(out) > q.Limit {
						out = out[1:]
					}
				}
				continue
			}
			if mq.match(&e) || alt && ms.match(&e) {
				out = append(out, e)
				if len(out) > q.Limit {
					out = out[1:]
				}
			}
		}
		if bad.Count > 0 {
			partial.BadLines = append(partial.BadLines, bad)
		}
		if err := sc.Err(); err != nil {
			partial.Skipped = append(partial.Skipped, Skipped{Name: name, Err: fmt.Errorf("read only in part: %w", err)})
			partial.InPart++
		}
		f.Close()
	}
	if len(partial.Skipped) > 0 || len(partial.BadLines) > 0 {
		return out, &partial
	}
	return out, nil
}

// rawBytesAsText is line with each byte that is not UTF-8 replaced by
// the text \xNN (\\xNN in JSON), as umbra writes such a byte
// (jsonsafe.TextBytes): a line umbra did not write (a copy through a
// tool that unescaped it) reads as the value would have been logged,
// not with U+FFFD, which says nothing of the byte. umbra's own lines are
// UTF-8 and returned as they are.
func rawBytesAsText(line []byte) []byte {
	if utf8.Valid(line) {
		return line
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(line)+16)
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && size <= 1 {
			out = append(out, '\\', '\\', 'x', hex[line[i]>>4], hex[line[i]&0xF])
			i++
			continue
		}
		out = append(out, line[i:i+size]...)
		i += size
	}
	return out
}

// Skipped is a log file a search could not read (whole); with Dir,
// the directory of the log files, which this user may not search: no
// file of it was read.
type Skipped struct {
	Name string
	Dir  bool
	Err  error
}

// BadLines are the lines of a log file that are no tracking event (not
// a JSON object of one: a torn or foreign line), skipped by a search.
type BadLines struct {
	Name  string
	Count int // how many
	First int // the line number of the first, from 1
}

func (l BadLines) String() string {
	return fmt.Sprintf("%s: %d lines skipped, not a tracking event (the first at line %d)", l.Name, l.Count, l.First)
}

// Partial is the error of a search that skipped files, or lines of
// them: its entries come from the rest.
type Partial struct {
	Skipped  []Skipped
	BadLines []BadLines
	// Read counts the files that were read (in whole or in part): 0
	// with files skipped means no event could be read at all; InPart
	// counts those read only in part (each also in Skipped).
	Read, InPart int
}

func (p *Partial) Error() string {
	var parts []string
	for _, s := range p.Skipped {
		parts = append(parts, fmt.Sprintf("%s skipped: %v", s.Name, s.Err))
	}
	for _, l := range p.BadLines {
		parts = append(parts, l.String())
	}
	return strings.Join(parts, "; ")
}

// openRegular opens a log file for reading without blocking on a FIFO
// in its place (no writer: the open would wait for ever) and refuses
// anything but a regular file, judged by the one stat of the file
// opened; a symbolic link is followed. The daemon's own checks of its
// rotated names use it (checkRotated, heldByOther, firstLineTime): a
// link at tracking.log.N is never written through — rotation renames
// and deletes the name, not its target — so it refuses no start, reload
// or rotation. Search, which must read only the daemon's files, opens
// with openNoFollow.
func openRegular(name string) (*os.File, error) {
	return openRead(name, false)
}

// openNoFollow is openRegular never through a symbolic link
// (O_NOFOLLOW, refused naming it: linkRefused): Search (umbra track)
// reads the files the daemon writes, and it writes none through a link,
// so a link at the log's name or a rotated one leads to a file that is
// not its log.
func openNoFollow(name string) (*os.File, error) {
	return openRead(name, true)
}

func openRead(name string, noFollow bool) (*os.File, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if noFollow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(name, flags, 0)
	if err != nil {
		if noFollow {
			if lerr := linkRefused(name); lerr != nil {
				return nil, lerr
			}
		}
		if fi, serr := os.Stat(name); serr == nil && !fi.Mode().IsRegular() {
			return nil, notRegular(name, fi.Mode()) // a socket: ENXIO
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(name, fi.Mode())
	}
	return f, nil
}

// linkRefused is the refusal of a tracking log path that is a symbolic
// link, naming where it leads; nil when the path is none.
func linkRefused(name string) error {
	fi, err := os.Lstat(name)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	to, _ := os.Readlink(name)
	return fmt.Errorf("tracking log %s is a symbolic link (to %s): umbra writes its log only to the file tracking.path names, "+
		"never through a link; set tracking.path to the file itself", name, to)
}

// rotatedLinkSkipped is why Search skips a symbolic link at a rotated
// name (tracking.log.N): the daemon accepts one there and never writes
// through it (its rotation renames the name, not the file it leads to),
// and tracking.path may well be right, so linkRefused's advice to set it
// does not apply. It names the link and the file it leads to, which the
// operator may read directly. nil when name is no link.
func rotatedLinkSkipped(name string) error {
	fi, err := os.Lstat(name)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	to, _ := os.Readlink(name)
	target := to
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(name), target)
	}
	return fmt.Errorf("tracking log %s is a symbolic link (to %s): umbra track follows no symbolic link (the daemon writes none "+
		"of its files through one), so the events in %s are not searched; read that file directly", name, to, target)
}

// notRegular refuses a tracking log path that holds no regular file,
// naming what it is in config check's words ("a directory", "a socket",
// "a FIFO", "a device"), not by fs.FileMode's type letters
// ("d---------").
func notRegular(name string, m os.FileMode) error {
	return fmt.Errorf("tracking log %s is %s, not a regular file", name, config.FileKind(m))
}

// nonASCII counts the bytes of s above 0x7f.
func nonASCII(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			n++
		}
	}
	return n
}
