package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
)

// Which crashes count against a message (the poison heuristic).
//
// A message in flight when the server died is retried, and a crash
// "counts" against it toward PoisonThreshold only when the crash
// plausibly came from processing it: while umbra's own code ran on it
// (loading and parsing the body, signing, loop checks, dot-stuffing and
// writing it, committing results and DSNs). A crash while every running
// job of its attempt waited on the next hop — connecting (dial, greeting,
// EHLO, TLS handshake) or waiting for its replies (to MAIL, RCPT and
// DATA, which a tarpit drags out, and to the end of the message, which a
// slow mailbox may keep for minutes) — says nothing about the message: it
// is retried and its crash count is left as it was. Writing the message
// to the next hop is umbra's code (dot-stuffing, reading the spool).
//
// The phase must survive kill -9, and writing it into the database would
// cost a commit (an fsync) per phase change. So it lives in one file,
// <data_dir>/peerwait.slots, of 16-byte slots written without fsync
// (markPeerWait): an attempt takes a slot at its first wait, each change
// of phase is one pwrite of the slot into the page cache (the message id,
// '1' while every running job of the attempt waits on a peer or '0', and
// a CRC-32C of both, so a torn slot reads as not waiting), and the slot
// is free again when no job of the attempt runs. A file per attempt, as
// before, cost a create and an unlink (an inode allocated and freed) per
// delivery: 17 % of the daemon's CPU relaying 4 KiB messages. A kill -9
// or an OOM kill keeps the page cache, so the slots are there at the next
// start; a power loss or a kernel crash may lose them, and then the crash
// counts (the safe side: a message can only be parked too early, by two
// such failures during its delivery, never a poisonous one kept looping).
// A write that fails empties the file and turns the slots off until the
// next start (every crash counts). Recover reads the slots and starts the
// file afresh: they describe the previous run only.

const (
	peerWaitFileName = "peerwait.slots"
	peerWaitSlotSize = 16
)

// peerWaitDirName is the directory of one marker file per attempt that
// releases before the slot file used; Recover still reads and removes it.
const peerWaitDirName = "peerwait"

// peerWaitKey carries a job's attempt to the deliverer (AwaitingPeer).
type peerWaitKey struct{}

type peerWaitJob struct {
	q       *Manager
	a       *attempt
	waiting int // this job's waits not ended (a.mu)
}

// peerDir is the old marker directory, beside the spool directory; ""
// when the store has none (markers off: every crash counts).
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
	free []int64  // released slots, taken again first
	next int64    // slots handed out so far
}

// peerWaits returns the store's slot file, opened (and emptied: a file
// not read by takePeerWaits describes nothing of this run) on first use;
// nil when the store keeps no files beside the database.
func (s *Store) peerWaits() *peerWaitSlots {
	s.pwOnce.Do(func() {
		path := s.peerWaitPath()
		if path == "" {
			return
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
		if err != nil {
			s.pw = &peerWaitSlots{} // off: every crash counts
			return
		}
		s.pw = &peerWaitSlots{f: f}
	})
	return s.pw
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

// put writes slot: id, waiting or not, and the checksum. On failure the
// file is emptied and the slots are off.
func (p *peerWaitSlots) put(slot int64, id ID, waiting bool) error {
	var b [peerWaitSlotSize]byte
	binary.BigEndian.PutUint64(b[:8], uint64(id))
	b[8] = '0'
	if waiting {
		b[8] = '1'
	}
	binary.BigEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return errPeerWaitOff
	}
	if _, err := p.f.WriteAt(b[:], slot*peerWaitSlotSize); err != nil {
		p.off()
		return err
	}
	return nil
}

// release frees slot; it must not say waiting (put false first).
func (p *peerWaitSlots) release(slot int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		p.free = append(p.free, slot)
	}
}

// off empties the file, so no slot can say waiting, and stops using it.
// Called with p.mu held.
func (p *peerWaitSlots) off() {
	p.f.Truncate(0)
	p.f.Close()
	p.f, p.free = nil, nil
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

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// readPeerWaitSlots returns the messages whose slot says waiting.
func readPeerWaitSlots(b []byte, out map[ID]bool) {
	for len(b) >= peerWaitSlotSize {
		slot := b[:peerWaitSlotSize]
		b = b[peerWaitSlotSize:]
		if slot[8] == '1' && binary.BigEndian.Uint32(slot[12:]) == crc32.Checksum(slot[:12], castagnoli) {
			out[ID(binary.BigEndian.Uint64(slot[:8]))] = true
		}
	}
}

// withJob marks ctx as the context of one job of a; the job counts as
// running umbra's code until it calls AwaitingPeer.
func (q *Manager) withJob(ctx context.Context, a *attempt) (context.Context, *peerWaitJob) {
	a.mu.Lock()
	a.busy++
	q.markPeerWait(a)
	a.mu.Unlock()
	j := &peerWaitJob{q: q, a: a}
	return context.WithValue(ctx, peerWaitKey{}, j), j
}

// jobLeft is withJob's end: the job reported. A wait it never ended (a
// panic unwound it) ends here.
func (q *Manager) jobLeft(j *peerWaitJob) {
	a := j.a
	a.mu.Lock()
	if j.waiting > 0 {
		a.peer -= j.waiting
		a.busy += j.waiting
		j.waiting = 0
	}
	a.busy--
	q.markPeerWait(a)
	a.mu.Unlock()
}

// AwaitingPeer tells the queue that the delivery of ctx's message now
// waits on a remote peer (connecting, or its replies) and runs none of
// umbra's code on the message; call the returned function when the wait
// ends (calling it again does nothing). A crash while every job of the
// attempt waits this way does not count toward the poison queue. With a
// context that is not a job's, it does nothing.
func AwaitingPeer(ctx context.Context) (done func()) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil {
		return func() {}
	}
	a := j.a
	a.mu.Lock()
	a.busy--
	a.peer++
	j.waiting++
	j.q.markPeerWait(a)
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
		a.peer--
		a.busy++
		j.q.markPeerWait(a)
	}
}

// markPeerWait makes the attempt's slot say whether every running job
// of a waits on a peer. Called with a.mu held. The attempt takes a slot
// at its first wait and frees it when no job of it runs any more; in
// between each change of phase is one pwrite of the slot, no fsync. A
// failure leaves no slot saying waiting, and a crash then counts (the
// safe side).
func (q *Manager) markPeerWait(a *attempt) {
	want := a.peer > 0 && a.busy == 0
	idle := a.peer == 0 && a.busy == 0 // no job of the attempt runs now
	if want == a.marked && !(idle && a.markSlot != 0) {
		return
	}
	pw := q.store.peerWaits()
	if pw == nil {
		return
	}
	drop := func() {
		if a.marked {
			if err := pw.put(a.markSlot-1, a.m.ID, false); err != nil {
				a.markSlot, a.marked = 0, false // the file is off and empty: nothing says waiting
				return
			}
		}
		pw.release(a.markSlot - 1)
		a.markSlot, a.marked = 0, false
	}
	switch {
	case want:
		if a.markSlot == 0 {
			slot, ok := pw.take()
			if !ok {
				return // off: a crash counts against the message
			}
			a.markSlot = slot + 1
		}
		if err := pw.put(a.markSlot-1, a.m.ID, true); err != nil {
			q.log.Debug("peer-wait slot not written; a crash now counts against the message", "msg_id", a.m.ID.String(), "err", err)
			a.markSlot, a.marked = 0, false
			return
		}
		a.marked = true
	case idle:
		drop()
	default: // a job is back in umbra's code
		if err := pw.put(a.markSlot-1, a.m.ID, false); err != nil {
			a.markSlot = 0 // off and empty
		}
		a.marked = false
	}
}

// takePeerWaits returns the messages whose attempt waited on a peer when
// the server stopped, and starts the slot file afresh: its slots
// describe the previous run only. Markers of the older one-file-per-
// attempt form are read and removed too.
func (s *Store) takePeerWaits() map[ID]bool {
	path := s.peerWaitPath()
	if path == "" {
		return nil
	}
	out := make(map[ID]bool)
	if b, err := os.ReadFile(path); err == nil {
		readPeerWaitSlots(b, out)
	}
	if dir := s.peerDir(); dir != "" {
		if ents, err := os.ReadDir(dir); err == nil {
			for _, e := range ents {
				p := filepath.Join(dir, e.Name())
				if id, err := ParseID(e.Name()); err == nil {
					if b, err := os.ReadFile(p); err == nil && len(b) > 0 && b[0] == '1' {
						out[id] = true
					}
				}
				os.Remove(p)
			}
			os.Remove(dir)
		}
	}
	s.peerWaits() // opened now, emptied: this run's slots
	return out
}
