package queue

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"umbra/internal/leftover"
)

// Which crashes count against a message (the poison heuristic).
//
// A message in the active set when the server died is retried, and the
// crash "counts" against it toward PoisonThreshold only when umbra's own
// code was running on it then: the attempt's start (its recipients
// filtered and split into jobs by the planner, which routes them), a job
// from its start (loading the body from the database, checking its spool
// file) through everything the deliverer does on the message between
// waits on the next hop (signing, loop checks, reading the spool,
// dot-stuffing it and handing it to the socket), and the attempt's end (its results
// applied, DSNs built) up to the moment its results are handed to the
// store's commit. Nothing else counts — the rule: a wait is never
// umbra's code on the message, whatever it waits for:
//
//   - a message claimed but queued behind its destination's concurrency
//     window: no job of it has started;
//   - a job waiting on the next hop — resolving it (MX, address, TLSA
//     and MTA-STS lookups: delivery's resolver marks them), connecting
//     (dial, greeting, EHLO, TLS handshake, the send connector's AUTH,
//     a relay's XSHADOW to a hub) or waiting for its replies (to MAIL,
//     RCPT and DATA, which a tarpit drags out, to the end of the
//     message, which a slow mailbox may keep for minutes, and to the
//     XQUERYDISCARD after it), writing to it while the write blocks
//     because it takes no more (a slow reader of the body: smtp
//     peerwrite.go), a recipient check asking the directory or a
//     callout, or routing asking the directory for a recipient's
//     mailbox database (ldapdir's AwaitPeer) — on every path (MX, smart host, a hub of the
//     organisation, the LMTP mailbox server), while no other job of the
//     attempt runs umbra's code (AwaitingPeer), nor another group of the
//     same job: Deliver's groups of one job, one session each, run on
//     strands of it (Strand) whose waits are their own, the job itself
//     waiting for them — one group's wait never hides another's code
//     (rrdelivrt41);
//   - a job waiting for another message: for its mailbox's LMTP turn
//     (delivery mailboxturn.go: another transaction of this server to
//     the same mailbox is under way; rt41 F1, a message behind another's
//     slow final reply was parked after two kills) — marked as a wait on
//     the peer (AwaitingPeer), which it is at one remove; for the
//     suspects' turn (suspectgate.go: the job starts after it); parked
//     at its start check while a stall's round runs (stallguard.go: it
//     left the attempt);
//   - a job's part that ended while the rest of it goes on (a group of
//     its recipients, one LMTP transaction while others wait for their
//     mailbox's turn: ReportGroup) waiting for its commit, from the
//     hand-off to the store to the commit's return, and for another
//     part's commit under way before it (jobcommit.go) — a wait of that
//     group's strand (or of the job, for the LMTP transaction) alone;
//     what the report does before (the results picked, the DSNs built)
//     and after (its events) is umbra's code, as the end's is;
//   - an attempt whose jobs are done and whose results wait for their
//     commit (Store.UpdateDeferred may hold them up to
//     transport.result_commit_delay): waiting is not the message's code,
//     and the commit's bookkeeping is shared with every writer of the
//     batch.
//
// The phase must survive kill -9, and writing it into the database would
// cost a commit (an fsync) per phase change. So it lives in one file,
// <data_dir>/peerwait.slots: a header, then 16-byte slots written
// without fsync. An attempt takes a slot when umbra's processing of it
// begins and writes "running" (one pwrite into the page cache); each
// change of phase is one more pwrite of the slot ("waiting" while every
// running job of the attempt, and every strand of one, waits on a peer,
// "running" again); when no
// part of the attempt runs any more, the slot is written "free" and
// handed to the next attempt. A slot is the message id, the phase byte
// and a CRC-32C of both. A file per attempt, as an older release kept,
// cost a create and an unlink (an inode allocated and freed) per
// delivery: 17 % of the daemon's CPU relaying 4 KiB messages.
//
// A stop umbra decides is no crash. The immediate stop of a second
// signal (StopAtOnce) rewrites every slot in use as stopped and writes
// no slot after, just before the process ends: nothing is waited for.
//
// At the next start (Recover) an Active message counts a crash only if
// its slot says running — when the file can be trusted. It is trusted
// only when it is a regular file (never a symlink followed or a FIFO
// opened), starts with the header written when the file was started
// afresh, that header names the boot of the system now running (the
// kernel's boot id: a kill -9 or an OOM kill keeps the page cache, and
// so the slots; a power loss or a kernel crash may lose them, and it
// changes the boot id), every slot's checksum holds, and it is no
// larger than the slots the active set can use. Anything else — no file,
// no header, another boot, a damaged slot, a file too large to be ours,
// or a file emptied because a write failed during the run (a failed
// write empties and removes the file and turns the slots off until the
// next start) — and every Active message counts a crash, as if there
// were no slots: a message can only be parked too early, never a
// poisonous one kept looping. Without a boot id (a system that has
// none) the slots are never written, for the same reason.

const (
	peerWaitFileName = leftover.PeerWaitSlots
	peerWaitSlotSize = 16
	// peerWaitHeaderSize: the magic, the boot id, the run, a CRC-32C;
	// slots follow, each at a multiple of peerWaitSlotSize.
	peerWaitHeaderSize = 48
	peerWaitMagic      = "umbraPW2"
)

// The phase a slot says.
const (
	slotFree    byte = 'F'
	slotRunning byte = 'R' // umbra's code runs on the message
	slotWaiting byte = 'W' // every running job of the attempt waits on a peer
	// slotStopped: the operator's immediate stop (a second signal) cut
	// the attempt — umbra ended itself, nothing crashed (StopAtOnce).
	slotStopped byte = 'S'
)

// peerWaitMaxSlots bounds the slots read at start: one per attempt in
// the active set at most (maxActive), with room for a run whose active
// set was larger. A file holding more is not ours to trust.
func peerWaitMaxSlots(maxActive int) int { return max(4*maxActive, 1<<12) }

// peerWaitDirName is the directory of one marker file per attempt that
// releases before the slot file used; Recover still reads and removes it.
// It is on the one list of names a start removes (leftover.Beside), so
// no command writes there, and the start logs its removal.
const peerWaitDirName = leftover.PeerWaitDir

// peerWaitKey carries a job's attempt to the deliverer (AwaitingPeer).
type peerWaitKey struct{}

type peerWaitJob struct {
	q       *Manager
	a       *attempt
	waiting int // this job's waits not ended, nested (a.mu): the job waits while it is above 0
	left    bool
	// strand: a goroutine of the job beside others of it (Strand), its
	// waits its own; strands, a job's strands not ended (a.mu), which
	// its leaving ends.
	strand  bool
	strands []*peerWaitJob
}

// peerDir is the old marker directory, beside the spool directory; ""
// when the store has none.
func (s *Store) peerDir() string {
	if s.spoolDir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(s.spoolDir), peerWaitDirName)
}

// peerWaitPath is the slot file, beside the spool directory; "" when the
// store has none.
func (s *Store) peerWaitPath() string {
	if s.spoolDir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(s.spoolDir), peerWaitFileName)
}

// peerWaitSlots is the open slot file and its free slots.
type peerWaitSlots struct {
	mu   sync.Mutex
	f    *os.File // nil: off (no file, or a write failed)
	run  []byte   // this run's id in the header (and in the database, by Recover)
	path string
	log  *slog.Logger
	free []int64 // released slots, taken again first
	next int64   // slots handed out so far
	cut  bool    // StopAtOnce marked the slots: nothing is written after

	slotBuf [peerWaitSlotSize]byte // put's, under mu
}

// bootID is the identity of the running kernel's boot; nil when the
// system has none to read.
func bootID() []byte {
	f, err := os.Open("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil
	}
	defer f.Close()
	var b [64]byte
	n, _ := io.ReadFull(f, b[:])
	id, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(b[:n])), "-", ""))
	if err != nil || len(id) != 16 {
		return nil
	}
	return id
}

// peerWaitHeader is the file's header for boot and run.
func peerWaitHeader(boot, run []byte) []byte {
	h := make([]byte, peerWaitHeaderSize)
	copy(h, peerWaitMagic)
	copy(h[8:24], boot)
	copy(h[24:40], run)
	binary.BigEndian.PutUint32(h[44:], crc32.Checksum(h[:44], castagnoli))
	return h
}

// peerWaits returns the store's slot file, started afresh on first use
// (a file not read by takePeerWaits describes nothing of this run): nil
// when the store keeps no files beside the database, off (every crash
// counts) when it cannot be written, with one warning saying so.
func (s *Store) peerWaits(log *slog.Logger) *peerWaitSlots {
	s.pwOnce.Do(func() {
		path := s.peerWaitPath()
		if path == "" {
			return
		}
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		s.pw = &peerWaitSlots{path: path, log: log}
		boot := bootID()
		if boot == nil {
			log.Warn("no boot id to tell a kill from a power loss: peer-wait slots are off, and every crash counts "+
				"against every message in delivery (poison_threshold)", "path", path)
			return
		}
		run := make([]byte, 16)
		if _, err := rand.Read(run); err != nil {
			log.Warn("peer-wait slots are off: no random run id; every crash counts against every message in delivery", "err", err)
			return
		}
		f, err := createPeerWaitFile(path, boot, run, log)
		if err != nil {
			log.Warn("peer-wait slot file cannot be written: until it can, every crash counts against every message "+
				"in delivery (poison_threshold), even one only waiting on a slow next hop", "path", path, "err", err)
			return
		}
		s.pw.f, s.pw.run = f, run
	})
	return s.pw
}

// peerWaitRun is this run's id in the slot file's header; nil when the
// slots are off.
func (s *Store) peerWaitRun(log *slog.Logger) []byte {
	p := s.peerWaits(log)
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return nil
	}
	return p.run
}

// createPeerWaitFile starts the slot file afresh: a new regular file,
// the header written and synced once. Whatever has the name — the last
// run's file, a FIFO, a symlink, a device, or a hard link the data
// directory's owner planted to a file elsewhere — is never opened,
// followed or truncated: its name is removed and the file made with
// O_EXCL (createFresh, the rule of every file written in the data
// directory: datadirfiles.go), so that it has one name, this run's.
func createPeerWaitFile(path string, boot, run []byte, log *slog.Logger) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("%s is %s, not a regular file, and cannot be removed: %w", path, fileKind(fi.Mode()), err)
		}
		log.Warn("peer-wait slot path was not a regular file: removed, a new file made", "path", path, "was", fileKind(fi.Mode()))
	} else if err == nil && linksOf(fi) > 1 {
		log.Warn("peer-wait slot path was a second name of another file: the name removed, that file left as it is, a new file made",
			"path", path, "links", linksOf(fi))
	}
	f, err := createFresh(path, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteAt(peerWaitHeader(boot, run), 0)
	if err == nil {
		err = f.Sync() // once per start: the header, not the slots
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// linksOf is the number of names of the file fi describes (1 where the
// system does not say).
func linksOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// ErrNotRegular is OpenRegular's error for a symlink, FIFO, device or
// directory in a file's place.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path for reading, without following a symlink in
// its place and without blocking on a FIFO, and refuses anything but a
// regular file: for a file dropped by someone else (a pickup file),
// which must not make umbra read another file with its own rights or
// hang on a FIFO.
func OpenRegular(path string) (*os.File, error) { return openNoFollow(path, os.O_RDONLY, 0) }

// openNoFollow opens path without following a symlink in its place and
// without blocking on a FIFO, and refuses anything but a regular file.
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink, %w", path, ErrNotRegular)
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
		return nil, fmt.Errorf("%s is %s, %w", path, fileKind(fi.Mode()), ErrNotRegular)
	}
	return f, nil
}

// fileKind names what a non-regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a regular file"
}

// take hands out a slot.
func (p *peerWaitSlots) take() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return 0, false
	}
	if n := len(p.free); n > 0 {
		slot := p.free[n-1]
		p.free = p.free[:n-1]
		return slot, true
	}
	p.next++
	return p.next - 1, true
}

// put writes slot: id, its phase and the checksum; one pwrite, no
// fsync. On failure the slots are off (off).
func (p *peerWaitSlots) put(slot int64, id ID, phase byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return errPeerWaitOff
	}
	if p.cut {
		return nil // the process ends: the slots say how the stop found each attempt
	}
	b := &p.slotBuf // a slice of a local array would escape to the heap at every write
	*b = [peerWaitSlotSize]byte{}
	binary.BigEndian.PutUint64(b[:8], uint64(id))
	b[8] = phase
	binary.BigEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
	if _, err := p.f.WriteAt(b[:], peerWaitHeaderSize+slot*peerWaitSlotSize); err != nil {
		p.off(err)
		return err
	}
	return nil
}

// release hands slot back; it must say free (put slotFree first).
func (p *peerWaitSlots) release(slot int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		p.free = append(p.free, slot)
	}
}

// off makes the file untrusted — emptied (no header) and removed — and
// stops using it: from now until the next start every crash counts.
// Called with p.mu held.
func (p *peerWaitSlots) off(err error) {
	p.f.Truncate(0)
	os.Remove(p.path) // should the truncation have failed too: no file is untrusted as well
	p.f.Close()
	p.f, p.free = nil, nil
	p.log.Warn("peer-wait slot write failed: slots off until the next start, and a crash until then counts against "+
		"every message in delivery (poison_threshold)", "path", p.path, "err", err)
}

func (p *peerWaitSlots) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
}

var errPeerWaitOff = errors.New("peer-wait slots are off")

// stopAll marks every slot in use (running or waiting) stopped and
// writes nothing after: the process ends at once (StopAtOnce). It reads
// back the slots handed out (at most the active set's, 16 bytes each)
// and rewrites those that say running or waiting, one pwrite each, no
// fsync (the page cache outlives the process). It returns how many
// attempts it marked, and false when the slots are off (every attempt in
// delivery then counts a crash at the next start, the safe side).
func (p *peerWaitSlots) stopAll() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return 0, false
	}
	p.cut = true
	if p.next == 0 {
		return 0, true
	}
	b := make([]byte, p.next*peerWaitSlotSize)
	if _, err := p.f.ReadAt(b, peerWaitHeaderSize); err != nil {
		return 0, false // the slots stay as they were: running ones count
	}
	n := 0
	for i := int64(0); i < p.next; i++ {
		slot := b[i*peerWaitSlotSize : (i+1)*peerWaitSlotSize]
		if slot[8] != slotRunning && slot[8] != slotWaiting || binary.BigEndian.Uint32(slot[12:]) != crc32.Checksum(slot[:12], castagnoli) {
			continue
		}
		slot[8] = slotStopped
		binary.BigEndian.PutUint32(slot[12:], crc32.Checksum(slot[:12], castagnoli))
		if _, err := p.f.WriteAt(slot, peerWaitHeaderSize+i*peerWaitSlotSize); err != nil {
			return n, false
		}
		n++
	}
	return n, true
}

// StopAtOnce records that the server stops at once, by the operator's
// decision (a second SIGTERM or SIGINT during the drain), cutting every
// attempt in flight: at the next start none of them counts a crash
// toward the poison queue, as the drain's cut counts none — each is due
// at once, no retry step used (Recover). It waits for nothing (no next
// hop, no commit): the caller ends the process right after, and nothing
// of the slots is written in between. It returns how many attempts it
// marked, and false when the slot file is off (then every message in
// delivery counts a crash at the next start, as after any stop the file
// cannot tell).
func (q *Manager) StopAtOnce() (cut int, recorded bool) {
	pw := q.store.peerWaits(q.log)
	if pw == nil {
		return 0, false
	}
	return pw.stopAll()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// peerWaitRead is what the slot file of the previous run says.
type peerWaitRead struct {
	// trusted: the file was read whole and holds what the previous run
	// wrote (see the top of this file); then running is every message
	// whose slot said running.
	trusted bool
	running map[ID]bool
	// stopped: trusted, the messages whose attempt the operator's
	// immediate stop cut (StopAtOnce): no crash.
	stopped map[ID]bool
	// why the file is not trusted; "" with trusted.
	why string
	// missing: there was no file (a first start; not worth a warning
	// when no message was in delivery).
	missing bool
	// waited: untrusted, the messages the markers of older releases
	// (slots without a header, one file per attempt) said waited on a
	// peer: as before, their crash does not count.
	waited map[ID]bool
}

// counts says whether a crash counts against an Active message id.
func (r *peerWaitRead) counts(id ID) bool {
	if r.trusted {
		return r.running[id]
	}
	return !r.waited[id]
}

// readPeerWaitFile reads the slot file at path, at most maxSlots slots;
// boot is the running system's boot id, run the run the database says
// started the file.
func readPeerWaitFile(path string, maxSlots int, boot, run []byte) peerWaitRead {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return peerWaitRead{why: "no slot file", missing: true}
	case err != nil:
		return peerWaitRead{why: err.Error()}
	case !fi.Mode().IsRegular():
		return peerWaitRead{why: fmt.Sprintf("%s is %s, not a regular file", path, fileKind(fi.Mode()))}
	}
	f, err := openNoFollow(path, os.O_RDONLY, 0)
	if err != nil {
		return peerWaitRead{why: err.Error()}
	}
	defer f.Close()
	return readPeerWaitSlots(f, maxSlots, boot, run)
}

// readPeerWaitSlots reads a slot file from r, streaming: it reads at
// most the header and maxSlots slots (and one byte more, to see that
// there are more), whatever r holds.
func readPeerWaitSlots(r io.Reader, maxSlots int, boot, run []byte) (out peerWaitRead) {
	limit := int64(peerWaitHeaderSize) + int64(maxSlots)*peerWaitSlotSize
	lr := &io.LimitedReader{R: r, N: limit + 1}
	br := bufio.NewReaderSize(lr, 4096)
	var h [peerWaitHeaderSize]byte
	n, err := io.ReadFull(br, h[:])
	if n == 0 {
		return peerWaitRead{why: "the slot file is empty (a write failed in the previous run, or it was never started)"}
	}
	if n < 8 || string(h[:8]) != peerWaitMagic {
		// An older release's file: slots from the first byte, '1' for
		// waiting; nothing else is known of it.
		out = peerWaitRead{why: "the slot file has no header (an older release's, or damaged)", waited: map[ID]bool{}}
		readOldSlots(h[:n], out.waited)
		var slot [peerWaitSlotSize]byte
		for {
			if _, err := io.ReadFull(br, slot[:]); err != nil {
				break
			}
			readOldSlots(slot[:], out.waited)
		}
		if lr.N == 0 {
			out.waited = nil // beyond the bound: not read whole, nothing known
		}
		return out
	}
	if err != nil {
		return peerWaitRead{why: "the slot file is shorter than its header"}
	}
	if binary.BigEndian.Uint32(h[44:]) != crc32.Checksum(h[:44], castagnoli) {
		return peerWaitRead{why: "the slot file's header is damaged"}
	}
	if boot == nil || string(h[8:24]) != string(boot) {
		return peerWaitRead{why: "the slot file was written before the system restarted (a power loss or a kernel crash may have lost slots)"}
	}
	if len(run) != 16 || string(h[24:40]) != string(run) {
		return peerWaitRead{why: "the slot file is not the one the last run started (it could not write one, or the database or the file was replaced)"}
	}
	out.running, out.stopped = map[ID]bool{}, map[ID]bool{}
	var slot [peerWaitSlotSize]byte
	var zero [peerWaitSlotSize]byte
	for {
		n, err := io.ReadFull(br, slot[:])
		if err == io.EOF {
			break
		}
		if lr.N == 0 {
			return peerWaitRead{why: fmt.Sprintf("the slot file is larger than %d slots, more than the active set can use", maxSlots)}
		}
		if err != nil {
			return peerWaitRead{why: fmt.Sprintf("the slot file ends in a partial slot (%d bytes)", n)}
		}
		if slot == zero {
			continue // handed out, not yet written
		}
		if binary.BigEndian.Uint32(slot[12:]) != crc32.Checksum(slot[:12], castagnoli) {
			return peerWaitRead{why: "a slot of the slot file is damaged"}
		}
		switch slot[8] {
		case slotRunning:
			out.running[ID(binary.BigEndian.Uint64(slot[:8]))] = true
		case slotStopped:
			out.stopped[ID(binary.BigEndian.Uint64(slot[:8]))] = true
		case slotWaiting, slotFree:
		default:
			return peerWaitRead{why: "a slot of the slot file says no known phase"}
		}
	}
	out.trusted = true
	return out
}

// readOldSlots adds the messages an older release's slots in b say
// waited on a peer.
func readOldSlots(b []byte, out map[ID]bool) {
	for len(b) >= peerWaitSlotSize {
		slot := b[:peerWaitSlotSize]
		b = b[peerWaitSlotSize:]
		if slot[8] == '1' && binary.BigEndian.Uint32(slot[12:]) == crc32.Checksum(slot[:12], castagnoli) {
			out[ID(binary.BigEndian.Uint64(slot[:8]))] = true
		}
	}
}

// readOldMarkers reads the marker directory of an older release (one
// file per attempt, "1" while it waited on a peer), at most limit of
// them, into out, and removes it. A symlink or anything else that is not
// a directory in its place is removed, never followed; a marker that is
// not a regular file is not opened. It reports whether it removed
// something, for the start to log (leftover.PeerWait).
func readOldMarkers(dir string, limit int, out map[ID]bool) bool {
	fi, err := os.Lstat(dir)
	if err != nil {
		return false
	}
	if !fi.IsDir() {
		return os.Remove(dir) == nil
	}
	d, err := openDirNoFollow(dir)
	if err != nil {
		return false
	}
	seen := 0
	for seen < limit {
		ents, err := d.ReadDir(256)
		for _, e := range ents {
			seen++
			id, perr := ParseID(e.Name())
			if perr != nil || !e.Type().IsRegular() || out == nil {
				continue
			}
			if f, err := openNoFollow(filepath.Join(dir, e.Name()), os.O_RDONLY, 0); err == nil {
				var b [1]byte
				if n, _ := f.Read(b[:]); n == 1 && b[0] == '1' {
					out[id] = true
				}
				f.Close()
			}
		}
		if err != nil {
			break
		}
	}
	d.Close()
	return os.RemoveAll(dir) == nil // unlinks what is inside, follows no symlink
}

// openDirNoFollow opens a directory, not a symlink to one.
func openDirNoFollow(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
}

// enterOwn starts a section of umbra's code on the attempt's message
// (its start, its end); leaveOwn ends it.
func (q *Manager) enterOwn(a *attempt) {
	a.mu.Lock()
	a.own++
	q.markPhase(a)
	a.mu.Unlock()
}

func (q *Manager) leaveOwn(a *attempt) {
	a.mu.Lock()
	a.own--
	q.markPhase(a)
	a.mu.Unlock()
}

// keptBack is a, when keepBack keeps a copy of m again for failed
// (a redelivery copy's failures), else nil: a commit that keeps none
// pays no pwrite of keepOwn.
func keptBack(m *Message, failed []int, a *attempt) *attempt {
	if !m.Redelivered() || len(failed) == 0 {
		return nil
	}
	return a
}

// keepOwn runs f, a dumpster copy kept inside a commit's function
// (Keeper.Keep, keepBack: they read the message and its body), as a
// section of umbra's code on a's message: the store runs that function
// once the wait for the commit is over, and a crash in the copy counts
// — inside the report's wait (jobcommit.go), or after the end's
// hand-off (finish), a message whose dumpster copy crashes the daemon
// was never counted, never parked (rrstrand42). Only a commit that
// keeps a copy pays its two pwrites. A nil a runs f alone.
func (q *Manager) keepOwn(a *attempt, f func() error) error {
	if a == nil {
		return f()
	}
	q.enterOwn(a)
	defer q.leaveOwn(a)
	return f()
}

// withJob starts a job of a: it counts as running umbra's code until it
// calls AwaitingPeer, from now (before the body is loaded), and ctx
// carries it to the deliverer.
func (q *Manager) withJob(ctx context.Context, a *attempt) (context.Context, *peerWaitJob) {
	a.mu.Lock()
	a.own++
	a.jobs++
	q.markPhase(a)
	a.mu.Unlock()
	j := &peerWaitJob{q: q, a: a}
	return context.WithValue(ctx, peerWaitKey{}, j), j
}

// withJobInTurn is withJob for a suspect's job whose attempt acquired
// the suspects' turn (suspectgate.go): the job starts only if the
// attempt still holds it, looked at under a.mu, where markPhase gives
// it back — between the acquire and this start nothing of the attempt
// may have run for an instant (its start left its own section), and
// the turn went back then; the job would have run beside another
// suspect's. It returns a nil job then: the turn is to be acquired
// again.
func (q *Manager) withJobInTurn(ctx context.Context, a *attempt) (context.Context, *peerWaitJob) {
	a.mu.Lock()
	if !q.suspects.holds(a) {
		a.mu.Unlock()
		return nil, nil
	}
	a.own++
	a.jobs++
	q.markPhase(a)
	a.mu.Unlock()
	j := &peerWaitJob{q: q, a: a}
	return context.WithValue(ctx, peerWaitKey{}, j), j
}

// jobLeft is withJob's end: the job reported. A wait it never ended (a
// panic unwound it) ends here. Calling it again does nothing.
func (q *Manager) jobLeft(j *peerWaitJob) {
	a := j.a
	a.mu.Lock()
	q.jobLeftLocked(j)
	a.mu.Unlock()
}

func (q *Manager) jobLeftLocked(j *peerWaitJob) {
	if j.left {
		return
	}
	a := j.a
	for _, s := range j.strands {
		q.strandLeftLocked(s) // a strand the job left behind (a panic unwound it)
	}
	j.strands = nil
	if j.waiting > 0 {
		a.peer--
		a.own++
		j.waiting = 0
	}
	a.own--
	if !j.strand {
		a.jobs--
	}
	j.left = true
	q.markPhase(a)
}

// strandLeftLocked ends a strand of a job (Strand) with what it still
// waits for; calling it again does nothing. Called with a.mu held.
func (q *Manager) strandLeftLocked(s *peerWaitJob) {
	if s.left {
		return
	}
	a := s.a
	if s.waiting > 0 {
		a.peer--
		a.own++
		s.waiting = 0
	}
	a.own--
	s.left = true
	q.markPhase(a)
}

// Strand starts a strand of ctx's job: a goroutine that runs beside
// others of the job (Deliver's groups, one session each), whose waits
// on a peer (AwaitingPeer with the returned context) are its own. A
// job's waits were counted for the job as a whole, so one group's wait
// (a slow reply, its results' deferred commit) marked the job waiting
// while another group ran umbra's code on the message: a crash there
// counted nothing, and a message that crashes the daemon in it was
// never parked (rrdelivrt41). A strand runs umbra's code from now until
// it waits; the job itself, while its strands run, waits for them
// (AwaitingPeer around its wait). Call the returned function when the
// strand ends (calling it again does nothing); the job's leaving ends
// a strand it left behind. With a context that is not a job's it
// returns ctx and does nothing.
func Strand(ctx context.Context) (context.Context, func()) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil {
		return ctx, func() {}
	}
	a := j.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if j.left || j.strand {
		// A goroutine the job left behind; or a strand's own strands,
		// which stay the strand's (its waits nest).
		return ctx, func() {}
	}
	s := &peerWaitJob{q: j.q, a: a, strand: true}
	j.strands = append(j.strands, s)
	a.own++
	j.q.markPhase(a)
	return context.WithValue(ctx, peerWaitKey{}, s), func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		j.q.strandLeftLocked(s)
	}
}

// AwaitingPeer tells the queue that the delivery of ctx's message now
// waits on a remote peer (connecting, or its replies), or on another
// message's transaction with it (a mailbox's turn), and runs none of
// umbra's code on the message; call the returned function when the wait
// ends (calling it again does nothing). A crash while every job of the
// attempt waits this way does not count toward the poison queue. With a
// context that is not a job's, it does nothing. Waits nest: a write that
// blocks on the peer inside a wait for its reply (smtp's peer writes)
// changes nothing, and the job runs umbra's code again only when its
// outermost wait ends.
func AwaitingPeer(ctx context.Context) (done func()) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil {
		return func() {}
	}
	a := j.a
	a.mu.Lock()
	if j.left { // a goroutine the job left behind
		a.mu.Unlock()
		return func() {}
	}
	j.waiting++
	if j.waiting == 1 {
		a.own--
		a.peer++
		j.q.markPhase(a)
	}
	a.mu.Unlock()
	ended := false
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if ended || j.waiting == 0 { // ended, or the job already left
			return
		}
		ended = true
		j.waiting--
		if j.waiting == 0 {
			a.peer--
			a.own++
			j.q.markPhase(a)
		}
	}
}

// markPhase makes the attempt's slot say its phase: running while a
// section of umbra's code runs on the message (a.own), waiting while
// only waits on a peer do (a.peer), free — and the slot handed back —
// when nothing of the attempt runs. Called with a.mu held. Each change
// is one pwrite, no fsync; none when the phase is unchanged. A failure
// turns the file off, untrusted: every crash counts (the safe side).
func (q *Manager) markPhase(a *attempt) {
	var want byte
	switch {
	case a.own > 0:
		want = slotRunning
	case a.peer > 0:
		want = slotWaiting
	}
	if want == 0 {
		// Nothing of the attempt runs: a suspect's turn goes on
		// (suspectgate.go), whether or not the slot file is in use.
		q.suspects.release(a)
	}
	if want == a.phase {
		return
	}
	pw := q.store.peerWaits(q.log)
	if pw == nil {
		return
	}
	if want == 0 {
		if a.slot != 0 && pw.put(a.slot-1, a.m.ID, slotFree) == nil {
			pw.release(a.slot - 1)
		}
		a.slot, a.phase = 0, 0
		return
	}
	if a.slot == 0 {
		slot, ok := pw.take()
		if !ok {
			return // off: every crash counts
		}
		a.slot = slot + 1
	}
	if err := pw.put(a.slot-1, a.m.ID, want); err != nil {
		a.slot, a.phase = 0, 0 // off and untrusted
		return
	}
	a.phase = want
}

// takePeerWaits reads what the slot file of the previous run says (at
// most maxSlots slots), and starts the file afresh: its slots describe
// the previous run only. Markers of older releases are read (used only
// when the file is not trusted) and removed. The caller records this
// run's id (peerWaitRun) in the database with its recovery.
func (s *Store) takePeerWaits(maxSlots int, log *slog.Logger) peerWaitRead {
	path := s.peerWaitPath()
	if path == "" {
		return peerWaitRead{why: "the store keeps no files beside the database"}
	}
	var run []byte
	_ = s.View(func(tx *Tx) error {
		run = append([]byte(nil), tx.tx.Bucket(bucketMeta).Get(keyPeerWaitRun)...)
		return nil
	})
	r := readPeerWaitFile(path, maxSlots, bootID(), run)
	if dir := s.peerDir(); dir != "" {
		if !r.trusted && r.waited == nil {
			r.waited = map[ID]bool{}
		}
		old := r.waited
		if r.trusted {
			old = nil // removed, not needed
		}
		if readOldMarkers(dir, maxSlots, old) && log != nil {
			// In the words of every other leftover a start removes
			// (cmd/umbra serve: Leftovers), logged here because the
			// markers are read by the recovery, after those are logged.
			why := ""
			if n, ok := leftover.Of(filepath.Join(filepath.Dir(dir), "queue.db"), peerWaitDirName); ok {
				why = n.Why
			}
			log.Warn("removed a leftover beside the transport database (the database itself was not replaced)", "path", dir, "why", why)
		}
	}
	s.peerWaits(log) // opened now, afresh: this run's slots
	return r
}
