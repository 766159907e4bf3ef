package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

func runUntilCrash(t *testing.T, path string, deliver func(ctx context.Context, reached chan<- struct{}, release <-chan struct{})) crashRun {
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
	s.Close() // the crash: nothing after this point reaches the disk
	return crashRun{rec, poi, ev}
}

func submitActive(t *testing.T, path string) ID {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := msg(s, "a@example.org", "b@example.net")
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
		r := runUntilCrash(t, path, waiting)
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
	id := submitActive(t, path)
	inOwnCode := func(ctx context.Context, reached chan<- struct{}, release <-chan struct{}) {
		// Connected (a peer wait that ended), then crashing in our code.
		AwaitingPeer(ctx)()
		reached <- struct{}{}
		<-release
	}
	r1 := runUntilCrash(t, path, inOwnCode)
	if r1.poi != 0 {
		t.Fatal("poisoned at start")
	}
	r2 := runUntilCrash(t, path, inOwnCode)
	if r2.rec != 1 || r2.poi != 0 {
		t.Fatalf("second run recovered %d poisoned %d", r2.rec, r2.poi)
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

// One job waiting on its peer while another runs umbra's code: a crash
// then counts (the message may be what the other job crashed on).
func TestCrashWithOneJobInOwnCodeCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{})
	a := &attempt{m: &Message{ID: s.NewID(time.Now())}}
	slots := filepath.Join(filepath.Dir(path), peerWaitFileName)
	exists := func() bool { // a slot says the attempt waits
		b, err := os.ReadFile(slots)
		if err != nil {
			return false
		}
		got := map[ID]bool{}
		readPeerWaitSlots(b, got)
		return got[a.m.ID]
	}
	ctx1, j1 := q.withJob(context.Background(), a)
	ctx2, j2 := q.withJob(context.Background(), a)
	done1 := AwaitingPeer(ctx1)
	if exists() {
		t.Fatal("marker while a job runs umbra's code")
	}
	done2 := AwaitingPeer(ctx2)
	if !exists() {
		t.Fatal("no marker while every job waits on its peer")
	}
	done1()
	done1() // idempotent
	if exists() {
		t.Fatal("marker after a job came back")
	}
	done2()
	q.jobLeft(j1)
	q.jobLeft(j2)
	if exists() || a.busy != 0 || a.peer != 0 {
		t.Fatalf("after the jobs: marker %v busy %d peer %d", exists(), a.busy, a.peer)
	}
	// A job that leaves inside a wait (a panic unwound it) ends the wait:
	// the counts stay true for the other job.
	ctx3, j3 := q.withJob(context.Background(), a)
	_, j4 := q.withJob(context.Background(), a)
	done3 := AwaitingPeer(ctx3)
	q.jobLeft(j3)
	done3() // late: nothing
	if exists() || a.busy != 1 || a.peer != 0 {
		t.Fatalf("after a job left in a wait: marker %v busy %d peer %d", exists(), a.busy, a.peer)
	}
	q.jobLeft(j4)
	if a.markSlot != 0 || len(s.pw.free) != 1 || s.pw.next != 1 {
		t.Fatalf("the slot is not free after every job left: slot %d, free %v, handed out %d", a.markSlot, s.pw.free, s.pw.next)
	}
	s.Close()
}

// The slot file: a slot whose checksum does not match (a torn write)
// never says waiting; markers of the one-file-per-attempt form an older
// release left are still read, then removed; the file starts afresh.
func TestPeerWaitSlotsRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{})
	waiting := &attempt{m: &Message{ID: 101}, peer: 1}
	torn := &attempt{m: &Message{ID: 102}, peer: 1}
	back := &attempt{m: &Message{ID: 103}, peer: 1}
	for _, a := range []*attempt{waiting, torn, back} {
		q.markPeerWait(a)
	}
	back.peer, back.busy = 0, 1
	q.markPeerWait(back) // '0' again: in umbra's code
	s.Close()
	b, err := os.ReadFile(filepath.Join(dir, peerWaitFileName))
	if err != nil || len(b) != 3*peerWaitSlotSize {
		t.Fatalf("slot file: %d bytes, %v", len(b), err)
	}
	b[(torn.markSlot-1)*peerWaitSlotSize+3] ^= 0xff // the id torn
	if err := os.WriteFile(filepath.Join(dir, peerWaitFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, peerWaitDirName)
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(old, ID(104).String()), []byte("1"), 0o600)
	os.WriteFile(filepath.Join(old, ID(105).String()), []byte("0"), 0o600)

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := s.takePeerWaits()
	if len(got) != 2 || !got[101] || !got[104] {
		t.Fatalf("waiting after the restart: %v, want 101 and 104", got)
	}
	if _, err := os.Stat(old); err == nil {
		t.Fatal("the old marker directory stays")
	}
	if fi, err := os.Stat(filepath.Join(dir, peerWaitFileName)); err != nil || fi.Size() != 0 {
		t.Fatalf("the slot file does not start afresh: %v %v", fi, err)
	}
}
