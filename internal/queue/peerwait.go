package queue

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
// cost a commit (an fsync) per phase change. So it is a marker file
// <data_dir>/peerwait/<message id> whose first byte is '1' while every
// running job of the attempt waits on a peer and '0' otherwise, written
// without fsync (markPeerWait); it exists while the attempt has a job
// running that has waited. A kill -9 or an OOM kill keeps the
// page cache, so the marker is there at the next start; a power loss or
// a kernel crash may lose it, and then the crash counts (the safe side: a
// message can only be parked too early, by two such failures during its
// delivery, never a poisonous one kept looping). Recover reads the
// markers and then removes them all.

const peerWaitDirName = "peerwait"

// peerWaitKey carries a job's attempt to the deliverer (AwaitingPeer).
type peerWaitKey struct{}

type peerWaitJob struct {
	q       *Manager
	a       *attempt
	waiting int // this job's waits not ended (a.mu)
}

// peerDir is the marker directory, beside the spool directory; "" when
// the store has none (markers off: every crash counts).
func (s *Store) peerDir() string {
	if s.spoolDir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(s.spoolDir), peerWaitDirName)
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

// markPeerWait makes the marker file say whether every running job of a
// waits on a peer. Called with a.mu held. The file is created at the
// attempt's first wait and removed when no job of it runs any more; in
// between each change of phase is one pwrite of a byte ('1' waiting on a
// peer, '0' not) into the page cache, no fsync: an attempt costs one
// create and one unlink, not one per wait. A failure leaves the marker
// absent or '0', and a crash then counts (the safe side).
func (q *Manager) markPeerWait(a *attempt) {
	want := a.peer > 0 && a.busy == 0
	idle := a.peer == 0 && a.busy == 0 // no job of the attempt runs now
	if want == a.marked && !(idle && a.markFile != nil) {
		return
	}
	dir := q.store.peerDir()
	if dir == "" {
		return
	}
	path := filepath.Join(dir, a.m.ID.String())
	drop := func() {
		a.markFile.Close()
		a.markFile, a.marked = nil, false
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			q.log.Warn("removing a peer-wait marker failed", "msg_id", a.m.ID.String(), "err", err)
		}
	}
	switch {
	case want:
		if a.markFile == nil {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
			if errors.Is(err, fs.ErrNotExist) {
				if err = os.MkdirAll(dir, 0o700); err == nil {
					f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
				}
			}
			if err != nil {
				q.log.Debug("peer-wait marker not written; a crash now counts against the message", "msg_id", a.m.ID.String(), "err", err)
				return
			}
			a.markFile = f
		}
		if _, err := a.markFile.WriteAt([]byte{'1'}, 0); err != nil {
			q.log.Debug("peer-wait marker not written; a crash now counts against the message", "msg_id", a.m.ID.String(), "err", err)
			drop()
			return
		}
		a.marked = true
	case idle:
		drop()
	default: // a job is back in umbra's code
		if _, err := a.markFile.WriteAt([]byte{'0'}, 0); err != nil {
			drop() // a marker that cannot say '0' must not stay
			return
		}
		a.marked = false
	}
}

// takePeerWaits returns the messages whose attempt waited on a peer when
// the server stopped, and removes every marker: they describe the
// previous run only.
func (s *Store) takePeerWaits() map[ID]bool {
	dir := s.peerDir()
	if dir == "" {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make(map[ID]bool, len(ents))
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		if id, err := ParseID(e.Name()); err == nil {
			if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[0] == '1' {
				out[id] = true
			}
		}
		os.Remove(path)
	}
	return out
}
