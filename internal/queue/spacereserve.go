package queue

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"umbra/internal/panicline"
)

// The space reserve (rt42 F2). A server whose disk is full must still
// commit the writes that free room or keep mail: the takeover of a dead
// primary's copies (its copies are delivered only once taken over, and
// their delivery is what frees room on a holder whose only mail is
// copies), the results of an attempt — their first commit
// (Manager.commitResults) and the retry of one that failed (the message
// stays in delivery until they commit, pendingresults.go) — and the
// discards a primary sends; the start's own commit of a database that
// holds mail (Options.SpaceReserve: Open makes the reserve before it)
// the claim of one due message (activeset.go), whose delivery is what
// frees room, and an operator's removal (changeOnceFreeing) (rt45 F1). bbolt writes such a commit into new pages
// when the file has no free ones — always after db compact or db
// restore, which leave none —, and a full file system refuses those
// (ENOSPC) — the commit would fail for as long as the disk stays full,
// and nothing would free room. bbolt grows the file by ftruncate, to
// the size of its mapping (doubling up to 16 MiB, then 16 MiB more at a
// time), which takes no blocks: the file is sparse past its last page
// written. The blocks are taken by the pages the commit writes, a few
// for a claim or a delivery's results, and those are what the reserve
// makes room for — once given up, its room serves the commits after it
// too, until deliveries free pages inside the file.
//
// So umbra keeps a file of SpaceReserveName in data_dir, allocated at
// the start (fallocate, else written zeros; fsynced) to Options'
// SpaceReserve bytes. Nothing else writes into it: copies on receipt and
// new mail meet the full disk first, and are refused (452 4.3.1) while
// the reserve is still whole. A commit that must succeed
// (UpdateFreeing) and fails for want of room removes the file — its
// blocks go back to the file system at once — and is tried once again.
// The reserve is made again (RestoreSpaceReserve) once the file system
// has at least four times its size free. What it guarantees: with the
// reserve whole, one such commit of up to its size in new pages goes
// through on a full disk — unless another commit (new mail, a copy on
// receipt, run by another goroutine) takes the room between the release
// and the retry: bbolt lets one writer at a time, not a writer of
// umbra's choosing, so such a commit may go first and the retry fail
// again. Then the caller's retry stands as without a reserve; back
// pressure counts the given-up reserve as used (cmd/umbra
// backpressure.go), so it does not lower its level and take in the
// mail that would race for that room. It is no part of the crash argument (doc.go):
// a commit that fails even so fails as before, nothing is lost, and
// the caller's retry stands; a crash while the file is half made leaves
// a short file, which the next start makes afresh.

// SpaceReserveName is the reserve file's name in data_dir.
const SpaceReserveName = "space.reserve"

// DefaultSpaceReserve is the reserve's size when the configuration
// gives none: at most 1/16 of the file system's size (a small data
// file system keeps most of its room for mail).
const DefaultSpaceReserve = 16 << 20

type spaceReserve struct {
	path string
	size int64 // 0: no reserve
	log  *slog.Logger

	mu   sync.Mutex
	held bool // the file is there, whole

	used atomic.Int64 // times released for a commit

	// remakeLog paces the WARN of a reserve that cannot be made again
	// while the file system has room: restore runs every ten seconds.
	remakeLog panicline.Gate
}

// newSpaceReserve makes the reserve in dir, of size bytes (capped at
// 1/16 of the file system's size; 0 or less: none). A reserve that
// cannot be made for want of room is made later (restore).
func newSpaceReserve(dir string, size int64, log *slog.Logger) *spaceReserve {
	r := &spaceReserve{path: filepath.Join(dir, SpaceReserveName), log: log}
	if size <= 0 {
		// A reserve an earlier start made: removed, and said as every
		// file a start deletes in the data directory (lifert43 F3).
		if err := os.Remove(r.path); err == nil {
			r.logf(slog.LevelWarn, "removed the space reserve an earlier start made: transport.space_reserve is 0 (no space reserve)")
		}
		return r
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil {
		if fs := int64(st.Blocks) * int64(st.Bsize) / 16; fs > 0 && size > fs {
			size = fs
		}
	}
	r.size = size
	if err := r.make(); err != nil {
		if perr := StartPermissionError("space reserve (transport.space_reserve)", r.path, err); perr != nil {
			// Not a want of room: the one wording of a start's
			// permission refusal, with its fix (ownership.go).
			r.logf(slog.LevelWarn, "the space reserve could not be made: this process may not write it; made once that is fixed and the file system has room", "err", perr)
		} else {
			r.logf(slog.LevelWarn, "the space reserve could not be made; made once the file system has room", "err", err)
		}
	}
	return r
}

func (r *spaceReserve) logf(level slog.Level, msg string, attrs ...any) {
	if r.log != nil {
		r.log.Log(context.Background(), level, msg, append([]any{"path", r.path, "bytes", r.size}, attrs...)...)
	}
}

// make writes the file afresh (createFresh: no link followed) and
// fsyncs it; on failure nothing of it is left.
func (r *spaceReserve) make() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held || r.size <= 0 {
		return nil
	}
	f, err := createFresh(r.path, os.O_WRONLY)
	if err != nil {
		return err
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, r.size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		err = writeZeros(f, r.size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(r.path)
		return err
	}
	if d, derr := os.Open(filepath.Dir(r.path)); derr == nil {
		d.Sync()
		d.Close()
	}
	r.held = true
	return nil
}

func writeZeros(f *os.File, n int64) error {
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// release removes the reserve for a commit that must succeed (why says
// which); false when there was none to give up.
func (r *spaceReserve) release(why string, cause error) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	if !r.held {
		r.mu.Unlock()
		return false
	}
	err := os.Remove(r.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		r.mu.Unlock()
		r.logf(slog.LevelError, "the space reserve could not be given up", "for", why, "err", err)
		return false
	}
	r.held = false
	r.mu.Unlock()
	r.used.Add(1)
	r.logf(slog.LevelWarn, "disk full: the space reserve is given up for a commit that frees or keeps mail; it is made again once the file system has room",
		"for", why, "err", cause)
	return true
}

// drop removes the reserve without counting it as used: a first start
// refused (Open) leaves nothing of its own in the data directory.
func (r *spaceReserve) drop() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		os.Remove(r.path)
		r.held = false
	}
}

// restore makes the reserve again when it is not whole and the file
// system has at least four times its size free.
func (r *spaceReserve) restore() {
	if r == nil {
		return
	}
	r.mu.Lock()
	need := !r.held && r.size > 0
	r.mu.Unlock()
	if !need {
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(r.path), &st); err != nil || int64(st.Bavail)*int64(st.Bsize) < 4*r.size {
		return
	}
	if err := r.make(); err != nil {
		if left, ok := r.remakeLog.Due(time.Now()); ok {
			r.logf(slog.LevelWarn, "the space reserve could not be made again; tried again later", "err", err, "suppressed", left)
		}
		return
	}
	r.remakeLog = panicline.Gate{}
	r.logf(slog.LevelInfo, "the space reserve is made again")
}

// noRoom says whether err is a write refused for want of room.
func noRoom(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	return false
}

// NoRoom says whether err is a write refused for want of room (a full
// disk, a quota).
func NoRoom(err error) bool { return noRoom(err) }

// UpdateFreeing is Update for a commit that frees room or keeps mail
// (the takeover of a dead primary's copies, delivery results that
// failed to commit, discards): when it fails for want of room and the
// space reserve is whole, the reserve is given up and the commit tried
// once more (spacereserve.go). why names the commit in the log line.
func (s *Store) UpdateFreeing(ctx context.Context, why string, fn func(*Tx) error) error {
	err := s.Update(ctx, fn)
	if noRoom(err) && s.reserve.release(why, err) {
		err = s.Update(ctx, fn)
	}
	return err
}

// StartSpaceReserve makes the space reserve in the database's
// directory, of size bytes (at most 1/16 of its file system; 0 or less:
// none, and a reserve an earlier start left is removed). The daemon
// calls it once, after Open.
// A store whose Open made it already (Options.SpaceReserve) keeps
// that one: made again here, the reserve the start's commit gave up
// would be counted as never used.
func (s *Store) StartSpaceReserve(size int64, log *slog.Logger) {
	if s.reserve != nil {
		return
	}
	s.reserve = newSpaceReserve(filepath.Dir(s.db.Path()), size, log)
}

// RestoreSpaceReserve makes the space reserve again once the file
// system has room (called at the back pressure's checks).
func (s *Store) RestoreSpaceReserve() { s.reserve.restore() }

// SpaceReserveUsed is how many times the space reserve was given up for
// a commit that frees or keeps mail since the start.
func (s *Store) SpaceReserveUsed() int64 {
	if s.reserve == nil {
		return 0
	}
	return s.reserve.used.Load()
}

// SpaceReserveHeld says whether the space reserve is whole, and its
// size (0: none).
func (s *Store) SpaceReserveHeld() (bool, int64) {
	if s.reserve == nil {
		return false, 0
	}
	s.reserve.mu.Lock()
	defer s.reserve.mu.Unlock()
	return s.reserve.held, s.reserve.size
}
