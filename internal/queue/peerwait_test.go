package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashRun models one run of the server that dies (kill -9) while
// message id is in delivery: a manager over a store opened on path,
// Recover, then Start with deliver; once inDelivery is closed (the
// deliverer reached the phase to crash in), the store is closed under the
// running attempt, as a kill leaves it: what was committed stays, nothing
// more is written. The blocked deliverer is released at the test's end.
type crashRun struct {
	rec, poi int
	ev       *eventLog
}

// The crash comes once the slot file says what the delivery's phase is
// (running: umbra's code on the message; else waiting on a peer): an
// attempt's start section hands over to its job without a gap, and a
// job that waits at once may be there before the start section has left
// — for those microseconds the slot rightly says running.
func runUntilCrash(t *testing.T, path string, running bool, deliver func(ctx context.Context, reached chan<- struct{}, release <-chan struct{})) crashRun {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	reached, release := make(chan struct{}, 1), make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		deliver(ctx, reached, release)
		return nil
	}), ManagerConfig{PoisonThreshold: 2, Events: ev})
	rec, poi, err := q.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { close(release); cancel() })
	q.Start(ctx)
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		if poi == 0 {
			t.Fatal("the message was not attempted")
		}
	}
	if poi == 0 {
		slots, run := s.peerWaitPath(), s.peerWaitRun(nil)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) { // a bound on the test
			r := readPeerWaitFile(slots, 1024, bootID(), run)
			if r.trusted && (len(r.running) > 0) == running {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the slot file never said running=%v: %+v", running, r)
			}
		}
	}
	s.Close() // the crash: nothing after this point reaches the disk
	return crashRun{rec, poi, ev}
}

func submitActive(t *testing.T, path string) ID { t.Helper(); return submitActiveIn(t, path, "") }

// submitActiveIn is submitActive with the recipient waiting in queue
// (as routing names it), or in none.
func submitActiveIn(t *testing.T, path, queue string) ID {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := msg(s, "a@example.org", "b@example.net")
	m.Rcpts[0].Queue = queue
	m.State, m.NextAttempt = Ready, time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func stateOf(t *testing.T, path string) *Message {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms := messages(t, s)
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	return ms[0]
}

// F7: crashes while the only job of the attempt waits on the next hop
// (a slow mailbox keeping the reply to the end of the message) do not
// count toward the poison queue: after more crashes than the threshold
// the message is still due, with no crash counted.
func TestCrashesWhileWaitingOnPeerDoNotPoison(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	submitActive(t, path)
	waiting := func(ctx context.Context, reached chan<- struct{}, release <-chan struct{}) {
		done := AwaitingPeer(ctx)
		defer done()
		reached <- struct{}{}
		<-release
	}
	for crash := 1; crash <= 3; crash++ {
		r := runUntilCrash(t, path, false, waiting)
		if r.poi != 0 {
			t.Fatalf("run %d: %d poisoned", crash, r.poi)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), peerWaitFileName)); err != nil {
			t.Fatalf("run %d: no peer-wait slot file: %v", crash, err)
		}
	}
	m := stateOf(t, path)
	if m.State != Active || m.CrashCount != 0 {
		t.Fatalf("after 3 crashes while waiting on the peer: state %s, crash count %d", m.State, m.CrashCount)
	}
}

// A truly poisonous message — the server dies every time umbra's own code
// processes it — still goes to the poison queue at the threshold, and the
// move is a tracked event "poison" (which the metrics count).
func TestCrashesInOwnCodePoisonTracked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	id := submitActiveIn(t, path, "smarthost:out")
	inOwnCode := func(ctx context.Context, reached chan<- struct{}, release <-chan struct{}) {
		// Connected (a peer wait that ended), then crashing in our code.
		AwaitingPeer(ctx)()
		reached <- struct{}{}
		<-release
	}
	r1 := runUntilCrash(t, path, true, inOwnCode)
	if r1.poi != 0 {
		t.Fatal("poisoned at start")
	}
	r2 := runUntilCrash(t, path, true, inOwnCode)
	if r2.rec != 1 || r2.poi != 0 {
		t.Fatalf("second run recovered %d poisoned %d", r2.rec, r2.poi)
	}
	// The repeat is one event per recipient it sends again, with the
	// recipient's queue, as the other delivery events: the metric's
	// queue_type label and the tracking line's queue are not empty.
	if !r2.ev.has("repeat smarthost:out: attempted again") {
		t.Errorf("the repeat event names no recipient's queue: %v", r2.ev.out)
	}
	// The third start finds the second crash: the threshold is reached.
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	q := NewManager(s, nil, ManagerConfig{PoisonThreshold: 2, Events: ev})
	rec, poi, err := q.Recover(context.Background())
	s.Close()
	if err != nil || rec != 0 || poi != 1 {
		t.Fatalf("recover: rec %d poi %d err %v", rec, poi, err)
	}
	m := stateOf(t, path)
	if m.ID != id || m.State != Poison || !strings.Contains(m.LastError, "2 crashes") {
		t.Fatalf("not poisoned: %s %q", m.State, m.LastError)
	}
	if !ev.has("poison: in flight during 2 crashes") {
		t.Fatalf("no poison event: %v", ev.out)
	}
}

// slotPhases reads the slot file beside the database at path as it is
// now: the phase each message's slot says.
func slotPhases(t *testing.T, path string) map[ID]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), peerWaitFileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < peerWaitHeaderSize || string(b[:8]) != peerWaitMagic {
		t.Fatalf("slot file without its header: %d bytes", len(b))
	}
	out := map[ID]byte{}
	for b = b[peerWaitHeaderSize:]; len(b) >= peerWaitSlotSize; b = b[peerWaitSlotSize:] {
		if id := ID(binary.BigEndian.Uint64(b[:8])); id != 0 && b[8] != slotFree {
			out[id] = b[8]
		}
	}
	return out
}

// The phases one attempt's slot goes through: running from a job's
// start, waiting only while every running job waits on its peer (one job
// waiting while another runs umbra's code: running, since the message may
// be what the other job crashes on), running again, free when no job runs
// — and the slot is handed back.
func TestPeerWaitPhases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, nil, ManagerConfig{})
	a := &attempt{m: &Message{ID: s.NewID(time.Now())}}
	phase := func() byte { return slotPhases(t, path)[a.m.ID] }
	ctx1, j1 := q.withJob(context.Background(), a)
	if phase() != slotRunning {
		t.Fatalf("a started job: slot says %q, want running", phase())
	}
	ctx2, j2 := q.withJob(context.Background(), a)
	done1 := AwaitingPeer(ctx1)
	if phase() != slotRunning {
		t.Fatalf("one job waits, one runs umbra's code: slot says %q", phase())
	}
	done2 := AwaitingPeer(ctx2)
	if phase() != slotWaiting {
		t.Fatalf("every job waits on its peer: slot says %q", phase())
	}
	done1()
	done1() // idempotent
	if phase() != slotRunning {
		t.Fatalf("a job came back: slot says %q", phase())
	}
	done2()
	q.jobLeft(j1)
	q.jobLeft(j2)
	q.jobLeft(j2) // idempotent
	if phase() != 0 || a.own != 0 || a.peer != 0 {
		t.Fatalf("after the jobs: slot %q own %d peer %d", phase(), a.own, a.peer)
	}
	// A job that leaves inside a wait (a panic unwound it) ends the wait:
	// the counts stay true for the other job.
	ctx3, j3 := q.withJob(context.Background(), a)
	_, j4 := q.withJob(context.Background(), a)
	done3 := AwaitingPeer(ctx3)
	q.jobLeft(j3)
	done3() // late: nothing
	AwaitingPeer(ctx3)()
	if phase() != slotRunning || a.own != 1 || a.peer != 0 {
		t.Fatalf("after a job left in a wait: slot %q own %d peer %d", phase(), a.own, a.peer)
	}
	q.jobLeft(j4)
	if a.slot != 0 || len(s.pw.free) != 1 || s.pw.next != 1 {
		t.Fatalf("the slot is not free after every job left: slot %d, free %v, handed out %d", a.slot, s.pw.free, s.pw.next)
	}
}

// The slot file as the next start reads it: running slots count, waiting
// and free ones do not; a damaged slot, a damaged header, another boot's
// header, no header (an older release's slots, whose '1' still means
// waiting) make the file untrusted. Markers of the one-file-per-attempt
// form are read and removed; the file starts afresh.
func TestPeerWaitSlotsRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{})
	running := &attempt{m: &Message{ID: 101}, own: 1}
	waiting := &attempt{m: &Message{ID: 102}, peer: 1}
	freed := &attempt{m: &Message{ID: 103}, own: 1}
	for _, a := range []*attempt{running, waiting, freed} {
		q.markPhase(a)
	}
	// A slot write (six a message) allocates nothing.
	if n := testing.AllocsPerRun(10, func() { s.pw.put(running.slot-1, 101, slotRunning) }); n != 0 {
		t.Errorf("a slot write: %v allocations, want 0", n)
	}
	freed.own = 0
	q.markPhase(freed)
	run := s.pw.run
	s.Close()
	slots := filepath.Join(dir, peerWaitFileName)
	good, err := os.ReadFile(slots)
	if err != nil || len(good) != peerWaitHeaderSize+3*peerWaitSlotSize {
		t.Fatalf("slot file: %d bytes, %v", len(good), err)
	}
	read := func(b []byte) peerWaitRead {
		return readPeerWaitSlots(bytes.NewReader(b), 16, bootID(), run)
	}
	r := read(good)
	if !r.trusted || !r.counts(101) || r.counts(102) || r.counts(103) || r.counts(104) {
		t.Fatalf("trusted file: %+v", r)
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short header":   good[:10],
		"torn slot":      flip(good, peerWaitHeaderSize+(running.slot-1)*peerWaitSlotSize+3),
		"damaged header": flip(good, 2),
		"another boot":   reheader(good, func(h []byte) { h[9] ^= 0xff }),
		"another run":    reheader(good, func(h []byte) { h[30] ^= 0xff }),
		"partial slot":   good[:len(good)-5],
		"unknown phase":  reslot(good, 0, func(sl []byte) { sl[8] = 'X' }),
		"too large":      append(append([]byte(nil), good...), make([]byte, 16*peerWaitSlotSize)...),
	} {
		if r := read(b); r.trusted || !r.counts(101) || !r.counts(102) || !r.counts(104) || r.why == "" {
			t.Errorf("%s: %+v, want untrusted, every message counting", name, r)
		}
	}
	// An older release's file: no header, 16-byte slots, '1' waiting.
	old := make([]byte, 2*peerWaitSlotSize)
	for i, id := range []ID{201, 202} {
		sl := old[i*peerWaitSlotSize:]
		binary.BigEndian.PutUint64(sl[:8], uint64(id))
		sl[8] = '0'
		if id == 201 {
			sl[8] = '1'
		}
		binary.BigEndian.PutUint32(sl[12:16], crc32.Checksum(sl[:12], castagnoli))
	}
	if r := read(old); r.trusted || r.counts(201) || !r.counts(202) || !r.counts(101) {
		t.Fatalf("an older release's slots: %+v", r)
	}

	if err := os.WriteFile(slots, old, 0o600); err != nil {
		t.Fatal(err)
	}
	oldDir := filepath.Join(dir, peerWaitDirName)
	if err := os.MkdirAll(oldDir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(oldDir, ID(104).String()), []byte("1"), 0o600)
	os.WriteFile(filepath.Join(oldDir, ID(105).String()), []byte("0"), 0o600)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := s.takePeerWaits(16, nil)
	if got.trusted || got.counts(201) || got.counts(104) || !got.counts(105) || !got.counts(202) {
		t.Fatalf("after the restart: %+v, want 201 and 104 not counting", got)
	}
	if _, err := os.Stat(oldDir); err == nil {
		t.Fatal("the old marker directory stays")
	}
	if fi, err := os.Stat(slots); err != nil || fi.Size() != peerWaitHeaderSize {
		t.Fatalf("the slot file does not start afresh: %v %v", fi, err)
	}
}

// flip returns b with the byte at i inverted.
func flip[T int | int64](b []byte, i T) []byte {
	b = append([]byte(nil), b...)
	b[i] ^= 0xff
	return b
}

// reheader returns b with its header changed by f and its checksum
// made right again.
func reheader(b []byte, f func([]byte)) []byte {
	b = append([]byte(nil), b...)
	f(b[:peerWaitHeaderSize])
	binary.BigEndian.PutUint32(b[44:48], crc32.Checksum(b[:44], castagnoli))
	return b
}

// reslot returns b with slot i changed by f and its checksum made right.
func reslot(b []byte, i int, f func([]byte)) []byte {
	b = append([]byte(nil), b...)
	sl := b[peerWaitHeaderSize+i*peerWaitSlotSize:][:peerWaitSlotSize]
	f(sl)
	binary.BigEndian.PutUint32(sl[12:], crc32.Checksum(sl[:12], castagnoli))
	return b
}

// Waits nest: a write that blocks on the peer inside a wait for its
// reply (smtp's peer writes) is one more wait of the same job. Before,
// each nested wait took one more of the attempt's running count away, so
// one job nested in a wait made the slot say waiting while another job
// of the attempt ran umbra's code.
func TestPeerWaitNested(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, nil, ManagerConfig{})
	a := &attempt{m: &Message{ID: s.NewID(time.Now())}}
	phase := func() byte { return slotPhases(t, path)[a.m.ID] }
	ctx1, j1 := q.withJob(context.Background(), a)
	_, j2 := q.withJob(context.Background(), a) // runs umbra's code throughout
	outer := AwaitingPeer(ctx1)
	inner := AwaitingPeer(ctx1)
	if phase() != slotRunning || a.own != 1 || a.peer != 1 {
		t.Fatalf("one job in two nested waits, one running: slot %q own %d peer %d", phase(), a.own, a.peer)
	}
	q.jobLeft(j2)
	if phase() != slotWaiting {
		t.Fatalf("the only job waits (nested): slot says %q", phase())
	}
	inner()
	if phase() != slotWaiting {
		t.Fatalf("the inner wait ended inside the outer one: slot says %q, want waiting", phase())
	}
	outer()
	if phase() != slotRunning || a.own != 1 || a.peer != 0 {
		t.Fatalf("both waits ended: slot %q own %d peer %d", phase(), a.own, a.peer)
	}
	// A job that leaves inside nested waits ends them all at once.
	AwaitingPeer(ctx1)
	AwaitingPeer(ctx1)
	q.jobLeft(j1)
	if phase() != 0 || a.own != 0 || a.peer != 0 {
		t.Fatalf("after the job left in nested waits: slot %q own %d peer %d", phase(), a.own, a.peer)
	}
}

// F6: the operator's immediate stop (a second signal) while umbra's
// code runs on a message is no crash: StopAtOnce marks the attempt's
// slot stopped, nothing the job does after changes it, and the next
// start counts no crash — three such stops leave the message due, never
// poisoned. Before, the slot said running and each stop counted.
func TestStopAtOnceCountsNoCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	id := submitActive(t, path)
	for stop := 1; stop <= 3; stop++ {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		reached, step, stepped, release := make(chan struct{}, 1), make(chan struct{}), make(chan struct{}), make(chan struct{})
		q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
			reached <- struct{}{} // umbra's code on the message
			<-step
			AwaitingPeer(ctx)() // phase changes after the stop: never written
			close(stepped)
			<-release
			return nil
		}), ManagerConfig{PoisonThreshold: 2})
		if _, poi, err := q.Recover(context.Background()); err != nil || poi != 0 {
			t.Fatalf("stop %d: recover: %d poisoned, %v", stop, poi, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		q.Start(ctx)
		select {
		case <-reached:
		case <-time.After(10 * time.Second):
			t.Fatalf("stop %d: the message was not attempted", stop)
		}
		if got := slotPhases(t, path)[id]; got != slotRunning {
			t.Fatalf("stop %d: the slot says %q before the stop, want running", stop, got)
		}
		if n, ok := q.StopAtOnce(); n != 1 || !ok {
			t.Fatalf("stop %d: StopAtOnce marked %d, recorded %v; want 1, true", stop, n, ok)
		}
		close(step)
		<-stepped
		if got := slotPhases(t, path)[id]; got != slotStopped {
			t.Fatalf("stop %d: after the job went on, the slot says %q, want stopped", stop, got)
		}
		s.Close() // the process ends: nothing after reaches the disk
		close(release)
		cancel()
	}
	m := stateOf(t, path)
	if m.State == Poison || m.CrashCount != 0 {
		t.Fatalf("after 3 immediate stops: state %s, crash count %d, %q", m.State, m.CrashCount, m.LastError)
	}
}

// OPS-1 (ops27 4): the daemon starts the peer-wait slot file afresh,
// and the data directory is its user's, who can plant a name there: a
// hard link to another file at peerwait.slots was opened and truncated
// (only a symlink was refused), so that file — anywhere the daemon may
// write, its own database included — lost its content. As every file a
// command writes there (datadirfiles.go), the slot file is made anew
// with O_EXCL: what had the name is unlinked, never written, and the
// slot file has one name.
func TestPeerWaitFileNotWrittenThroughAPlantedLink(t *testing.T) {
	for _, kind := range []string{"hard link", "symlink", "dangling symlink"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "victim")
			os.WriteFile(victim, []byte("precious"), 0o600)
			slots := filepath.Join(dir, peerWaitFileName)
			var err error
			switch kind {
			case "hard link":
				err = os.Link(victim, slots)
			case "symlink":
				err = os.Symlink(victim, slots)
			case "dangling symlink":
				os.Remove(victim)
				err = os.Symlink(victim, slots)
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(filepath.Join(dir, "queue.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.takePeerWaits(16, nil) // at the start: read, then made afresh
			if kind == "dangling symlink" {
				if _, err := os.Stat(victim); err == nil {
					t.Fatalf("the dangling symlink's target was created")
				}
			} else if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Fatalf("the file the %s named: %q %v, want it untouched", kind, b, err)
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(slots, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Nlink != 1 || st.Size != peerWaitHeaderSize {
				t.Fatalf("the slot file: %+v %v, want a regular file of one name holding the header", st, err)
			}
			if s.pw == nil || s.pw.f == nil {
				t.Fatal("the slots are off")
			}
		})
	}
}
