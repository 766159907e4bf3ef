package pickup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"umbra/internal/header"
	"umbra/internal/orgid"
	"umbra/internal/panicline"
	"umbra/internal/queue"
)

// Queue is what the watcher needs of the queue manager.
type Queue interface {
	NewID() queue.ID
	// SubmitKeyed queues a message unless key was submitted before; then
	// it returns that message's id with again set (queue.Manager).
	SubmitKeyed(ctx context.Context, m *queue.Message, body []byte, key string) (prev queue.ID, again bool, err error)
	WaitHandedOn(id queue.ID) <-chan struct{}
	// PickupFate says what the database knows of message id of the
	// file named name (NAME.eml) marked NAME.<id>.queued before a
	// restart: queued there, its end recorded there, or nothing
	// (queue.Manager.PickupFate).
	PickupFate(id queue.ID, name string) queue.PickupFate
}

// Config configures a Watcher.
type Config struct {
	Dir      string
	Interval time.Duration
	MaxSize  int64
	Hostname string
	Queue    Queue
	Log      *slog.Logger
	// Paused, when set and true, holds the directory's files where they
	// are (back pressure at high: no new mail); Scan then submits none.
	Paused func() bool
	// AuthservIDs are the organisation's authserv-ids: a file's
	// Authentication-Results claiming one are removed, as the front door
	// removes an SMTP client's (no umbra check looked at the file, and
	// the ARC sealer seals what such a header says).
	AuthservIDs []string
	// Spool, when set and Queue is a BodyQueue, makes the spool file a
	// file larger than SpoolThreshold bytes is copied to instead of
	// being read into memory (stream.go; queue.Store.NewSpool);
	// MaxHeaderSize bounds such a file's header section (0: 1 MiB).
	Spool          func() (*queue.SpoolFile, error)
	SpoolThreshold int64
	MaxHeaderSize  int
	// RcptKey is the comparison key of a recipient, as RCPT's recipient
	// set compares (smtp.Server.RcptKey, the current accepted domains):
	// a file's recipients repeated under one key are one (Parse).
	RcptKey func(addr string) string
	// Panicked, when set, counts a recovered panic of the handling of
	// one file (umbra_pickup_panics_total).
	Panicked func()
}

// Watcher scans the pickup directory.
type Watcher struct {
	cfg Config
	// rename marks a submitted file (os.Rename; tests put a crash there).
	rename func(oldpath, newpath string) error
	mu     sync.Mutex
	busy   map[string]bool // files being handled
	// failed: the failure last logged of each file that failed and is
	// still there, with the file's stamp then (logFailure).
	failed map[string]failure
	wg     sync.WaitGroup
	panics panicline.Gate // the log lines of recovered panics
}

// failure is a file's failure as logged: the file then (fileKey) and
// what the log said: its message and the error's text (the same message
// over another error is another failure).
type failure struct{ stamp, msg, err string }

// New returns a watcher; Run drives it.
func New(cfg Config) *Watcher {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	return &Watcher{cfg: cfg, busy: map[string]bool{}, failed: map[string]failure{}, rename: os.Rename}
}

// Run scans until ctx ends, then waits for its goroutines.
func (w *Watcher) Run(ctx context.Context) {
	w.reattach(ctx)
	for {
		w.Scan(ctx)
		t := time.NewTimer(w.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			w.wg.Wait()
			return
		case <-t.C:
		}
	}
}

// reattach waits again for the messages of files marked .queued before a
// restart. Only a file whose message this database holds is waited for,
// and only one whose message's end this database recorded is removed: a
// file whose message it does not know (a new or another database, one
// restored from a backup older than the message, the id since given to
// another message) is the message's only copy and is submitted again.
func (w *Watcher) reattach(ctx context.Context) {
	w.reattachHanded()
	files, _ := filepath.Glob(filepath.Join(w.cfg.Dir, "*.queued"))
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".queued")
		i := strings.LastIndexByte(base, '.')
		if i < 0 {
			continue
		}
		id, err := queue.ParseID(base[i+1:])
		if err != nil {
			continue
		}
		w.mu.Lock()
		busy := w.busy[f]
		w.mu.Unlock()
		if busy {
			continue // waited for already (a Run started again after a panic)
		}
		switch w.cfg.Queue.PickupFate(id, base[:i]+".eml") {
		case queue.PickupQueued:
			w.await(ctx, id, f, "")
		case queue.PickupEnded:
			// Handed on before a crash that came before the removal.
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				w.cfg.Log.Error("removing a handed-on pickup file failed", "file", f, "err", err)
			}
		default:
			w.resubmit(f, base[:i], id)
		}
	}
}

// reattachHanded settles the files a crash left moved aside at the end
// of a wait (removeHanded: .NAME.<id>.handed): one that is the drop
// message id was submitted from (its key, as NAME.eml, stored for that
// message) is removed, any other given back to the scan. A key pruned
// meanwhile (the file gone from NAME.eml longer than message_expiration)
// gives the file back: submitted again, twice, never lost.
func (w *Watcher) reattachHanded() {
	files, _ := filepath.Glob(filepath.Join(w.cfg.Dir, ".*"+handedSuffix))
	kl, _ := w.cfg.Queue.(keyLookup)
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "."), handedSuffix)
		i := strings.LastIndexByte(base, '.')
		if i <= 0 {
			continue
		}
		id, err := queue.ParseID(base[i+1:])
		if err != nil {
			continue
		}
		path := filepath.Join(w.cfg.Dir, base[:i]+".eml")
		key := "pickup:unread" // matches no file
		if now, err := contentFileKeyAt(path, f); err == nil && kl != nil {
			if got, ok := kl.SubmittedKey(now); ok && got == id {
				key = now
			}
		}
		w.settleHanded(f, path, key, id)
	}
}

// resubmit gives a .queued file back to the scan as a new drop: the
// database holds no record of its message (a new database, another
// server's, one restored from an older backup, or the id since given to
// another message), so the file is its only copy here. The rename makes
// it a new submission (a new name and change time: a new key), as a
// file dropped again. It is one rename that replaces nothing
// (RENAME_NOREPLACE), so a crash leaves the file under one name or the
// other, never both; where the file system lacks it, a link and a
// removal, and a crash between them leaves both names on one inode: the
// next start's give-back finds the name taken by the same file and only
// removes the .queued one.
func (w *Watcher) resubmit(path, name string, id queue.ID) {
	// Never the application's own NAME.eml: it saw that name go when the
	// file was marked, and may drop a new file under it (a daily
	// report.eml), which a rename would replace — or be replaced by.
	// A name of umbra's, given by a rename or link that replaces nothing.
	to := filepath.Join(w.cfg.Dir, strings.TrimSuffix(name, ".restored-"+id.String())+".restored-"+id.String()+".eml")
	if err := giveBack(path, to); err != nil {
		var both *keptBothError
		if errors.As(err, &both) {
			// Submitted under the new name all the same; the old one would
			// be given back again at the next start: a second copy.
			w.cfg.Log.Error("a pickup file given back to the scan keeps its old name too; remove it, or its message goes twice", "file", path, "given_back_as", to, "err", both.err)
		} else {
			w.cfg.Log.Error("a pickup file whose message the transport database does not hold could not be given back to the scan; it is left as it is",
				"file", path, "err", err)
			return
		}
	}
	w.cfg.Log.Warn("pickup file whose message the transport database does not hold (a new or restored database, or its record set aside as damaged): submitted again",
		"file", to, "old_msg_id", id.String())
}

// keptBothError: the file has its new name, the old one could not be
// removed.
type keptBothError struct{ err error }

func (e *keptBothError) Error() string { return e.err.Error() }

// giveBack moves path to the free name to and replaces nothing. nil: the
// file is under to only; *keptBothError: under both names; any other
// error: under path only.
func giveBack(path, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		// A file system without RENAME_NOREPLACE: a link replaces nothing
		// either, the removal follows.
		err = os.Link(path, to)
		if err == nil {
			return removeOld(path)
		}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		// The give-back of a start that crashed between the link and the
		// removal (this server's fallback, or an older version's): the
		// name already is this file (one inode). Left here, the .queued
		// name would be given back again once the scan marked the
		// given-back one away — a second submission.
		if a, aerr := os.Lstat(path); aerr == nil {
			if b, berr := os.Lstat(to); berr == nil && os.SameFile(a, b) {
				return removeOld(path)
			}
		}
	}
	return err
}

func removeOld(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return &keptBothError{err}
	}
	return nil
}

// Scan handles every new *.eml file once.
func (w *Watcher) Scan(ctx context.Context) {
	if w.cfg.Paused != nil && w.cfg.Paused() {
		return
	}
	files, err := filepath.Glob(filepath.Join(w.cfg.Dir, "*.eml"))
	if err != nil {
		w.cfg.Log.Error("scanning the pickup directory failed", "dir", w.cfg.Dir, "err", err)
		return
	}
	w.forgetGone(files)
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), ".") || ctx.Err() != nil {
			continue
		}
		w.mu.Lock()
		busy := w.busy[f]
		w.mu.Unlock()
		if !busy {
			w.handleRecovered(ctx, f)
		}
	}
}

// handleRecovered is handle for the scan. A panic while one file is
// handled (a defect, in the reading of a dropped file say: outside
// input) is recovered — the watcher's lock is held only around its own
// maps, never across the handling — counted (Config.Panicked), logged at
// ERROR once a minute (panicline), and the file refused as one that can
// never be submitted (.bad), so that it does not panic again at every
// scan; the scan goes on with the other files. Unrecovered it ended the
// daemon, and again at each start while the file stayed
// (TestPickupPanicRecovered). A file whose message the queue took
// before the panic keeps that message queued (the .bad file is then a
// leftover, not mail lost).
func (w *Watcher) handleRecovered(ctx context.Context, path string) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			if w.cfg.Panicked != nil {
				w.cfg.Panicked()
			}
			if line, ok := w.panics.Attrs(time.Now(), r, stack); ok {
				w.cfg.Log.Error("pickup file handling panicked", append([]any{"file", filepath.Base(path)}, line...)...)
			}
			w.refuse(path, fmt.Errorf("internal error (recovered panic): %v", r))
		}
	}()
	w.handle(ctx, path)
}

func (w *Watcher) handle(ctx context.Context, path string) {
	fi, err := os.Lstat(path)
	if err == nil {
		if prev, ok := w.submittedBefore(path, fi); ok { // a drop an earlier release submitted, left unmarked
			key, err := contentFileKey(path) // the drop as it is now, which the match just found unchanged
			if err != nil {
				key = "pickup:unread" // matches no file: kept at the end of the wait, never removed unread
			}
			w.submitted(ctx, path, key, prev, prev, true, &queue.Message{})
			w.succeeded(path)
			return
		}
	}
	if err == nil && w.spools(fi.Size()) { // stream.go: not read into memory
		err := w.handleSpooled(ctx, path)
		switch {
		case err == nil || errors.Is(err, os.ErrNotExist):
			w.succeeded(path)
		case errors.Is(err, errRefused):
			w.refuse(path, err)
		default:
			w.logFailure(slog.LevelError, path, "pickup file not submitted; trying again later", err)
		}
		return
	}
	data, fi, err := readLimited(path, w.cfg.MaxSize)
	if err == nil && headerOverLimit(data, w.maxHeader()) {
		err = fmt.Errorf("%w: header section longer than %d bytes (its empty line counted)", errRefused, w.maxHeader())
	}
	if err == nil {
		var env Envelope
		var body []byte
		if env, body, err = Parse(data, w.cfg.RcptKey); err == nil {
			sum := sha256.Sum256(data)
			err = w.submit(ctx, path, fileKey(path, fi, sum[:]), env, body)
			if err != nil {
				w.logFailure(slog.LevelError, path, "pickup file not submitted; trying again later", err)
				return
			}
			w.succeeded(path)
			return
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		w.succeeded(path)
		return
	}
	w.refuse(path, err)
}

// refuse renames a file that can never be submitted (err says why) to
// .bad. A rename that fails leaves it where it is, refused again at each
// scan.
func (w *Watcher) refuse(path string, err error) {
	if rerr := os.Rename(path, strings.TrimSuffix(path, ".eml")+".bad"); rerr != nil {
		w.logFailure(slog.LevelWarn, path, "pickup file refused; it could not be renamed .bad and stays", err, "rename_err", rerr)
		return
	}
	w.cfg.Log.Warn("pickup file refused", "file", filepath.Base(path), "err", err)
	w.succeeded(path)
}

// logFailure logs a file's failure (msg, err and attrs at level) unless
// the log said the same of the same file before: a file that fails at
// every scan is logged once, not at every interval; again when the file
// changed (other times or size), when the
// failure is another, or after it succeeded. (The stamp is the file's
// key without its content, statFileKey: a failing file is not read to
// decide whether to log.)
func (w *Watcher) logFailure(level slog.Level, path, msg string, err error, attrs ...any) {
	f := failure{msg: msg}
	if err != nil {
		f.err = err.Error()
	}
	if fi, serr := os.Lstat(path); serr == nil {
		f.stamp = statFileKey(path, fi)
	}
	w.mu.Lock()
	prev, seen := w.failed[path]
	w.failed[path] = f
	w.mu.Unlock()
	if seen && prev == f {
		return
	}
	w.cfg.Log.Log(context.Background(), level, msg, append([]any{"file", filepath.Base(path), "err", err}, attrs...)...)
}

// succeeded forgets a file's failure: it was submitted, refused and
// renamed, or is gone.
func (w *Watcher) succeeded(path string) {
	w.mu.Lock()
	delete(w.failed, path)
	w.mu.Unlock()
}

// forgetGone forgets the failures of the files no longer in the
// directory (files: the scan's): the table holds no more entries than
// the directory holds files.
func (w *Watcher) forgetGone(files []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failed) == 0 {
		return
	}
	here := make(map[string]bool, len(files))
	for _, f := range files {
		here[f] = true
	}
	for f := range w.failed {
		if !here[f] {
			delete(w.failed, f)
		}
	}
}

// fileKey names one drop of a file: its path, inode, size, modification
// time and birth time (statFileKey), and sum, the SHA-256 of the bytes
// read from it (the content submitted). A crash after the submission
// leaves the very same file (same key), so it is not queued twice; a new
// drop under the same name is a new file, so it is a new message:
// written and renamed in, it is born anew (and a new inode, unless the
// file system reuses the one the former drop freed, as ext4 and xfs do
// at once); rewritten in place, it gets a new modification time — unless
// a tool sets that back (touch -r, cp -p onto the file): same inode,
// size, times and birth, and only the content tells. Without the sum an
// unmarked file (its rename to .queued failing) rewritten so read as the
// drop before, and its new content was never submitted.
func fileKey(path string, fi os.FileInfo, sum []byte) string {
	return fileKeyAt(path, path, fi, sum)
}

// fileKeyAt is fileKey of the drop named path whose file now lies at at
// (moved aside by await: the same inode, so the same birth time).
func fileKeyAt(path, at string, fi os.FileInfo, sum []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00content\x00%x", statFileKeyAt(path, at, fi), sum)
	return "pickup:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// statFileKey is a drop's key without its content, the key the release
// before this one stored (path, inode, size, modification time and birth
// time). The birth time (statx STATX_BTIME) is what tells a new file on
// a reused inode whose size and modification time a tool set (cp -p,
// rsync -t, tar x, touch -r) from the drop before: without it that drop
// read as submitted, nothing was queued and the file was marked with,
// and removed by, the former message. Where the file system gives no
// birth time (NFS) the change time stands in: a new file changes it too,
// and so, there only, does a chmod or chown of the unmarked file
// (submitted again: twice, never lost). Neither the change time where a
// birth time is given, nor the device, is in it: a chmod or chown of an
// unmarked file (an operator fixing its permissions) changes only its
// ctime, and a network or removable file system remounted may get
// another device number; the same drop either way, which a key with them
// took for a new one and submitted again. (The path names the directory,
// which holds one file system at a time.) A key stored so is found only
// for a file not changed since it was stored (submittedBefore); it also
// stamps a file's logged failure (logFailure).
func statFileKey(path string, fi os.FileInfo) string { return statFileKeyAt(path, path, fi) }

// statFileKeyAt is statFileKey of the drop named path whose file now lies
// at at.
func statFileKeyAt(path, at string, fi os.FileInfo) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fmt.Fprintf(h, "\x00ino\x00%d", st.Ino)
		if sec, nsec, ok := birthTime(at); ok {
			fmt.Fprintf(h, "\x00btime\x00%d.%d", sec, nsec)
		} else {
			fmt.Fprintf(h, "\x00ctime\x00%d.%d", st.Ctim.Sec, st.Ctim.Nsec)
		}
	}
	return "pickup:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// contentFileKey is fileKey of the file at path as it is now: its
// content read and summed (KeyFileGone). Any error: the file cannot be
// told.
func contentFileKey(path string) (string, error) { return contentFileKeyAt(path, path) }

// contentFileKeyAt is contentFileKey of the drop named path whose file
// now lies at at.
func contentFileKeyAt(path, at string) (string, error) {
	f, err := queue.OpenRegular(at)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fileKeyAt(path, at, fi, h.Sum(nil)), nil
}

// inodeFileKey is the key the release before this one gave a drop (path,
// inode, size and modification time, no birth time). It is not looked up
// to find a drop submitted (a new file on a reused inode has it too: the
// loss fileKey's birth time ends); KeyFileGone keeps a key stored so
// while a file it names lingers.
func inodeFileKey(path string, fi os.FileInfo) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fmt.Fprintf(h, "\x00ino\x00%d", st.Ino)
	}
	return "pickup:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// earlierFileKey is the key an earlier release gave the same drop (with
// the file's device and change time). A file it submitted and left
// unmarked is found by it (submittedBefore), and its key, stored so,
// is kept while the file lingers (KeyFileGone).
func earlierFileKey(path string, fi os.FileInfo) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fmt.Fprintf(h, "\x00%d\x00%d\x00%d.%d", st.Dev, st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return "pickup:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// keyLookup is the queue's look at a submission key that stores nothing
// (queue.Manager.SubmittedKey).
type keyLookup interface {
	SubmittedKey(key string) (queue.ID, bool)
}

// submittedBefore reports whether the file was submitted under an
// earlier key rule (earlierFileKey, inodeFileKey, statFileKey), and as
// which message.
func (w *Watcher) submittedBefore(path string, fi os.FileInfo) (queue.ID, bool) {
	kl, ok := w.cfg.Queue.(keyLookup)
	if !ok {
		return 0, false
	}
	if id, ok := kl.SubmittedKey(earlierFileKey(path, fi)); ok {
		return id, true
	}
	at, ok := w.cfg.Queue.(interface {
		SubmittedKeyAt(string) (queue.ID, time.Time, bool)
	})
	if !ok {
		return 0, false
	}
	// The release before stored the key without the content
	// (statFileKey): the same drop only if the file has not changed
	// since that key was stored. A rewrite in place changes its change
	// time, whatever a tool sets its modification time to; so does a
	// chmod, which then submits it again (twice, never lost). Where the
	// file system gives no birth time (NFS) the key holds the change
	// time itself, so its match says unchanged — and the change time is
	// the file server's clock, not this server's, so it is not compared
	// with the stored time.
	if id, stored, ok := at.SubmittedKeyAt(statFileKey(path, fi)); ok {
		if _, _, born := birthTime(path); !born {
			return id, true
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !time.Unix(st.Ctim.Sec, st.Ctim.Nsec).After(stored) {
			return id, true
		}
	}
	// The release before that stored path, inode, size and mtime: the
	// same drop only if this file was born before that key was stored (a
	// new file on the reused inode was born after it) and has not changed
	// since (a rewrite in place).
	if id, stored, ok := at.SubmittedKeyAt(inodeFileKey(path, fi)); ok {
		born := time.Time{}
		if sec, nsec, ok := birthTime(path); ok {
			born = time.Unix(sec, int64(nsec))
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if changed := time.Unix(st.Ctim.Sec, st.Ctim.Nsec); changed.After(born) {
				born = changed
			}
		}
		if !born.IsZero() && !born.After(stored) {
			return id, true
		}
	}
	return 0, false
}

func (w *Watcher) submit(ctx context.Context, path, key string, env Envelope, body []byte) error {
	id, m, msg := w.prepare(path, env, body)
	prev, again, err := w.cfg.Queue.SubmitKeyed(ctx, m, msg, key)
	if err != nil {
		return err
	}
	w.submitted(ctx, path, key, id, prev, again, m)
	return nil
}

// prepare makes the message of a parsed pickup file: its envelope, and
// msg (the whole message, or its header section when the rest is
// spooled) with the trace field in front and the header edits made.
func (w *Watcher) prepare(path string, env Envelope, msg []byte) (queue.ID, *queue.Message, []byte) {
	id := w.cfg.Queue.NewID()
	// "by" is a Domain (RFC 5321 §4.4): an absolute server.name without
	// its final dot.
	trace := fmt.Sprintf("Received: from pickup directory\r\n\tby %s (umbra) with local id %s;\r\n\t%s\r\n",
		strings.TrimSuffix(w.cfg.Hostname, "."), id, time.Now().Format(time.RFC1123Z))
	// A file is not a transport server of the organisation: its umbra
	// headers are removed, and the queue gives it an org id (SR-14).
	msg, _ = orgid.Strip(msg)
	msg, _ = header.RemoveAuthResults(msg, w.cfg.AuthservIDs...)
	// The file is beside the database, on the same disk: the message
	// enters held by this server only (queue enteredsingle.go).
	m := &queue.Message{ID: id, From: env.From, Connector: "pickup", Internal: true, Helo: filepath.Base(path), MessageID: messageID(msg),
		EntersAlone: true}
	for _, r := range env.Rcpts {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: r})
	}
	return id, m, append([]byte(trace), msg...)
}

// submitted marks a submitted file and waits for its message to be
// handed on. key is the drop's (fileKey): a file left unmarked is
// removed at the end only while it is still that drop (await).
func (w *Watcher) submitted(ctx context.Context, path, key string, id, prev queue.ID, again bool, m *queue.Message) {
	// A panic from here on comes after the message was committed: it is
	// no refusal (handleRecovered's .bad would tell the operator the file
	// can never be submitted, and a file dropped again, a new key, would
	// be sent twice). Counted and logged; the file stays under whatever
	// name it reached — as NAME.eml its stored key keeps the next scan
	// from submitting it again, as .queued the next start finds its
	// message's fate (pickupfate).
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			if w.cfg.Panicked != nil {
				w.cfg.Panicked()
			}
			if line, ok := w.panics.Attrs(time.Now(), r, stack); ok {
				w.cfg.Log.Error("pickup file handling panicked after its message was queued; the message goes out, the file stays until a scan or the next start settles it",
					append([]any{"file", filepath.Base(path), "msg_id", id.String()}, line...)...)
			}
		}
	}()
	if again {
		// Submitted before a crash that came before the file was marked.
		w.cfg.Log.Warn("pickup file was submitted before; not submitting it again", "file", filepath.Base(path), "msg_id", prev.String())
		id = prev
	}
	queued := strings.TrimSuffix(path, ".eml") + "." + id.String() + ".queued"
	if err := w.rename(path, queued); err != nil {
		// The message is durable and its key stored with it: a later
		// scan finds the key and does not submit the file again.
		w.cfg.Log.Error("marking a submitted pickup file failed", "file", path, "err", err)
		queued = path
	}
	if !again {
		w.cfg.Log.Info("pickup file submitted", "file", filepath.Base(path), "msg_id", id.String(), "org_id", m.OrgID,
			"message_id", m.MessageID, "rcpts", len(m.Rcpts))
	}
	if queued != path {
		key = "" // marked: the .queued name is this message's alone
	}
	w.await(ctx, id, queued, key)
}

// messageID is the Message-ID of a message ("" if none or unreadable).
func messageID(msg []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return ""
	}
	return queue.CutMessageID(strings.TrimSpace(m.Header.Get("Message-ID")))
}

// await deletes the file once ownership of its message has passed on.
// A file left unmarked (key: the drop it was, fileKey) is deleted only
// while it is still that drop: its name is busy meanwhile, so no scan
// reads it, and a new drop under the same name — renamed in, or the file
// rewritten in place, its modification time set back — is another
// message, kept for the next scan, never removed unsent.
func (w *Watcher) await(ctx context.Context, id queue.ID, path, key string) {
	w.mu.Lock()
	w.busy[path] = true
	w.mu.Unlock()
	handed := w.cfg.Queue.WaitHandedOn(id)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.busy, path)
			w.mu.Unlock()
		}()
		// A panic here (a defect) comes after the message was queued:
		// counted and logged as the handling's (handleRecovered), the
		// file left under its .queued name for the next start to settle
		// (pickupfate), the watcher and the daemon going on.
		defer func() {
			if r := recover(); r != nil {
				stack := debug.Stack()
				if w.cfg.Panicked != nil {
					w.cfg.Panicked()
				}
				if line, ok := w.panics.Attrs(time.Now(), r, stack); ok {
					w.cfg.Log.Error("pickup file's wait for its message panicked; the file stays until the next start settles it",
						append([]any{"file", filepath.Base(path), "msg_id", id.String()}, line...)...)
				}
			}
		}()
		select {
		case <-handed:
			// Asked again before the file goes: the wait also ends for a
			// message that left without being handed on — its record set
			// aside as damaged (nothing of it is delivered), or dropped
			// so by an operator — and then the file is its only copy.
			if name, ok := heloOf(path, id); ok && w.cfg.Queue.PickupFate(id, name) == queue.PickupUnknown {
				w.resubmit(path, strings.TrimSuffix(name, ".eml"), id)
				break
			}
			if key != "" {
				w.removeHanded(path, key, id)
				break
			}
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				w.cfg.Log.Error("removing a handed-on pickup file failed", "file", path, "err", err)
			}
		case <-ctx.Done():
		}
	}()
}

// handedSuffix ends the name a handed-on unmarked file is moved aside to
// (.NAME.<id>.handed: a dot-name, which no scan reads) before it is told
// apart from a new drop (removeHanded).
const handedSuffix = ".handed"

// handedName is the name the unmarked file path of message id is moved
// aside to.
func handedName(path string, id queue.ID) string {
	return filepath.Join(filepath.Dir(path), "."+strings.TrimSuffix(filepath.Base(path), ".eml")+"."+id.String()+handedSuffix)
}

// removeHanded removes the unmarked file path of message id, handed on,
// when it is still the drop submitted (key). The file is opened and told
// by its content through that descriptor first — before anything changes
// its times: where the file system gives no birth time the key holds the
// change time, which a rename changes — and a new drop is left where it
// is. The drop is then moved aside by one rename that replaces nothing
// (.NAME.<id>.handed) and removed only if what was moved is that very
// file (the same inode) with that content still (read again through the
// descriptor): a new drop renamed in at path meanwhile, before the move
// or after it, is never the file removed, and one moved aside is given
// back to path, or to NAME.restored-<id>.eml when path holds yet
// another; the scan submits it. A crash after the move leaves the
// .handed file, which the next start settles (reattachHanded). Where the
// move fails (a read-only directory, no space, a file system without
// RENAME_NOREPLACE) the file is removed by name when it is still the
// inode told, the check and the removal two steps.
func (w *Watcher) removeHanded(path, key string, id queue.ID) {
	f, err := queue.OpenRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		w.keptHanded(path, id, err)
		return
	}
	defer f.Close()
	fi, sum, err := statAndSum(f)
	if err != nil {
		w.keptHanded(path, id, err)
		return
	}
	if fileKey(path, fi, sum) != key {
		w.keptHanded(path, id, nil) // another drop already
		return
	}
	aside := handedName(path, id)
	err = unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, aside, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOENT) {
		return
	}
	if err != nil {
		if now, lerr := os.Lstat(path); lerr == nil && os.SameFile(fi, now) {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				w.cfg.Log.Error("removing a handed-on pickup file failed", "file", path, "err", err)
			}
		} else if lerr == nil {
			w.keptHanded(path, id, nil)
		}
		return
	}
	if moved, lerr := os.Lstat(aside); lerr == nil && os.SameFile(fi, moved) {
		if _, again, err := statAndSum(f); err == nil && bytes.Equal(again, sum) {
			if err := os.Remove(aside); err != nil && !os.IsNotExist(err) {
				w.cfg.Log.Error("removing a handed-on pickup file failed", "file", aside, "err", err)
			}
			return
		}
	}
	w.giveBackHanded(aside, path, id, nil)
}

// globQuote is s with the characters filepath.Match treats specially
// escaped.
func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// statAndSum is the file's stat and the SHA-256 of its content, read
// from its start.
func statAndSum(f *os.File) (os.FileInfo, []byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, nil, err
	}
	return fi, h.Sum(nil), nil
}

// settleHanded settles a file a crash left moved aside to aside
// (reattachHanded): removed when it is the drop of key (submitted as
// path), else given back to the scan.
func (w *Watcher) settleHanded(aside, path, key string, id queue.ID) {
	now, err := contentFileKeyAt(path, aside)
	if err == nil && now == key {
		if err := os.Remove(aside); err != nil && !os.IsNotExist(err) {
			w.cfg.Log.Error("removing a handed-on pickup file failed", "file", aside, "err", err)
		}
		return
	}
	w.giveBackHanded(aside, path, id, err)
}

// giveBackHanded gives the file moved aside to aside back to the scan:
// at path, or at NAME.restored-<id>.eml when path holds another file. A
// give-back that fails leaves it under the aside name, which no scan
// reads: said at ERROR, settled at the next start.
func (w *Watcher) giveBackHanded(aside, path string, id queue.ID, readErr error) {
	to := path
	gerr := giveBack(aside, to)
	if errors.Is(gerr, fs.ErrExist) {
		to = filepath.Join(filepath.Dir(path), strings.TrimSuffix(filepath.Base(path), ".eml")+".restored-"+id.String()+".eml")
		gerr = giveBack(aside, to)
	}
	var both *keptBothError
	switch {
	case errors.As(gerr, &both):
		w.cfg.Log.Error("a pickup file given back to the scan keeps its aside name too; remove it, or its message goes twice", "file", aside, "given_back_as", to, "err", both.err)
	case gerr != nil:
		w.cfg.Log.Error("a pickup file dropped under the name of one handed on could not be given back to the scan; it stays under its aside name until the next start",
			"file", aside, "err", gerr)
		return
	}
	w.keptHanded(to, id, readErr)
}

// keptHanded logs a file kept at the end of the wait for message id: not
// the drop submitted (another was dropped under its name), or one that
// could not be read (readErr).
func (w *Watcher) keptHanded(path string, id queue.ID, readErr error) {
	if readErr != nil {
		w.cfg.Log.Warn("a handed-on pickup file could not be read to tell it from a new drop; it is kept", "file", filepath.Base(path), "msg_id", id.String(), "err", readErr)
		return
	}
	w.cfg.Log.Warn("a pickup file was dropped again under the name of one handed on; it is kept and submitted at the next scan",
		"file", filepath.Base(path), "msg_id", id.String())
}

// heloOf is the name a pickup file waiting at path for message id was
// submitted under (the message's Helo): NAME.eml of NAME.<id>.queued, or
// the file's own name when marking it failed.
func heloOf(path string, id queue.ID) (string, bool) {
	base := filepath.Base(path)
	if n, ok := strings.CutSuffix(base, "."+id.String()+".queued"); ok {
		return n + ".eml", true
	}
	if strings.HasSuffix(base, ".eml") {
		return base, true
	}
	return "", false
}

func readLimited(path string, max int64) ([]byte, os.FileInfo, error) {
	f, err := queue.OpenRegular(path) // not a symlink's target, never blocking on a FIFO
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if max <= 0 {
		max = 36 << 20
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) > max {
		return nil, nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, fi, nil
}

// QueuedFileGone returns the test the queue's pruner asks before it
// forgets a pickup message's recorded end (queue.ManagerConfig
// PickupFileGone): whether dir holds no NAME.<id>.queued file for the
// message submitted as name (NAME.eml). Only the directory a watcher
// uses (dirInUse) answering "no such file" says gone; a directory not
// there, one that cannot be read, or an unmounted file system's mount
// point keeps the end, so that the file, when it comes back, goes and
// is not submitted again.
func QueuedFileGone(dir string) func(id queue.ID, name string) bool {
	return func(id queue.ID, name string) bool {
		if !dirInUse(dir) {
			return false
		}
		_, err := os.Lstat(filepath.Join(dir, strings.TrimSuffix(name, ".eml")+"."+id.String()+".queued"))
		return errors.Is(err, fs.ErrNotExist)
	}
}

// KeyFileGone returns the test the queue's pruner asks before it
// forgets a pickup submission's key (queue.ManagerConfig PickupKeyGone):
// whether dir holds no file name that is the drop submitted under key
// (fileKey, its content read again; or statFileKey, earlierFileKey or
// inodeFileKey for a key stored by an earlier release).
// An unmarked NAME.eml whose rename to .queued failed keeps its key
// however long it stays, so that no scan submits it twice; a file of
// that name dropped since is another drop (another key): the old key
// may go. Only the directory a watcher uses (dirInUse) says gone; one
// not there, that cannot be read, or an unmounted file system's mount
// point keeps the key, as QueuedFileGone keeps an end; so does a file
// that cannot be read.
func KeyFileGone(dir string) func(name, key string) bool {
	return func(name, key string) bool {
		if !dirInUse(dir) {
			return false
		}
		path := filepath.Join(dir, name)
		// A file moved aside at the end of its wait (.NAME.<id>.handed) and
		// not yet settled: its drop may be this key's (reattachHanded asks
		// for it), so the key stays while one lies there.
		if aside, _ := filepath.Glob(filepath.Join(globQuote(dir), "."+globQuote(strings.TrimSuffix(name, ".eml"))+".*"+handedSuffix)); len(aside) > 0 {
			return false
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return errors.Is(err, fs.ErrNotExist)
		}
		if statFileKey(path, fi) == key || earlierFileKey(path, fi) == key || inodeFileKey(path, fi) == key {
			return false
		}
		now, err := contentFileKey(path)
		if err != nil {
			return errors.Is(err, fs.ErrNotExist)
		}
		return now != key
	}
}

// dirInUse reports whether dir is the pickup directory a watcher used:
// a directory holding the lock file Lock makes in it (a regular file,
// left there when the server stops). A pickup directory that is a mount
// point stays there while its file system is unmounted (an NFS mount
// stopped, an operator's umount), empty: every file would look gone,
// its key and end pruned, and the same drops, back at the remount,
// submitted a second time. The mount point holds no lock file (it is
// on the mounted file system), so nothing is said gone there. (Not the
// device number: a bind mount has its source's, and a remounted network
// file system may get another.) A server started while its pickup file
// system is not mounted makes the lock file on the mount point: its
// pruning then cannot tell, the one gap left.
func dirInUse(dir string) bool {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return false
	}
	fi, err := os.Lstat(filepath.Join(dir, lockFileName))
	return err == nil && fi.Mode().IsRegular()
}
