package pickup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

func TestParse(t *testing.T) {
	env, body, err := Parse([]byte("X-Sender: app@example.org\nX-Receiver: <a@example.test>\nX-Receiver: b@example.test\n"+
		"From: App <noreply@example.org>\nTo: someone@else.example\nBcc: hidden@example.test\nSubject: hi\n\nbody line\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if env.From != "app@example.org" || strings.Join(env.Rcpts, ",") != "a@example.test,b@example.test" {
		t.Errorf("envelope from X- headers: %+v", env)
	}
	if strings.Contains(string(body), "X-Receiver") || strings.Contains(string(body), "Bcc") || strings.Contains(string(body), "hidden") ||
		!strings.Contains(string(body), "Subject: hi\r\n\r\nbody line\r\n") {
		t.Errorf("body:\n%q", body)
	}

	env, _, err = Parse([]byte("From: A <a@example.org>\r\nTo: B <b@example.test>, c@example.test\r\nCc: d@example.test\r\n"+
		"Bcc: e@example.test\r\nSubject: x\r\n\r\nhi\r\n"), nil)
	if err != nil || env.From != "a@example.org" || strings.Join(env.Rcpts, ",") != "b@example.test,c@example.test,d@example.test,e@example.test" {
		t.Errorf("envelope from address headers: %+v %v", env, err)
	}
	for _, bad := range []string{"no header end", "From: a@b\r\nSubject: x\r\n\r\nno rcpt\r\n", "To: not an address\r\n\r\nx\r\n",
		"X-Receiver: bad\r\n\r\nx\r\n", "broken header\r\n\r\n"} {
		if _, _, err := Parse([]byte(bad), nil); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("X-Sender: a@b.c\nX-Receiver: d@e.f\nSubject: x\n\nhi\n"))
	f.Add([]byte("From: a@b.c\r\nTo: d@e.f, \"x y\" <g@h.i>\r\n\r\nhi\r\n"))
	f.Add([]byte("From: a@b.c\r\nTo: d@e.f\r\n\r\nhi\r.\rMAIL FROM:<x@y.z>\r\n\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, body, err := Parse(data, nil)
		if err != nil {
			return
		}
		if len(env.Rcpts) == 0 || countSep(body, "\n") != countSep(body, "\r\n") || countSep(body, "\r") != countSep(body, "\r\n") {
			t.Fatalf("accepted with %v rcpts or bare LF or CR in %q", env.Rcpts, body)
		}
	})
}

func countSep(b []byte, sep string) int { return strings.Count(string(b), sep) }

type fakeQueue struct {
	mu      sync.Mutex
	next    queue.ID
	msgs    []*queue.Message
	handed  map[queue.ID]chan struct{}
	failing bool
	failErr error // what a failing queue returns (nil: os.ErrDeadlineExceeded)
	// fates: what the database knows of a .queued file's message (nil:
	// queued when submitted here, else unknown).
	fates map[queue.ID]queue.PickupFate
}

func (q *fakeQueue) PickupFate(id queue.ID, name string) queue.PickupFate {
	q.mu.Lock()
	defer q.mu.Unlock()
	if f, ok := q.fates[id]; ok {
		return f
	}
	for _, m := range q.msgs {
		if m.ID == id && m.Helo == name {
			return queue.PickupQueued
		}
	}
	return queue.PickupUnknown
}

func (q *fakeQueue) NewID() queue.ID { q.mu.Lock(); defer q.mu.Unlock(); q.next++; return q.next }
func (q *fakeQueue) SubmitKeyed(ctx context.Context, m *queue.Message, b []byte, key string) (queue.ID, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failing {
		if q.failErr != nil {
			return 0, false, q.failErr
		}
		return 0, false, os.ErrDeadlineExceeded
	}
	q.msgs = append(q.msgs, m)
	return m.ID, false, nil
}
func (q *fakeQueue) WaitHandedOn(id queue.ID) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.handed[id] == nil {
		q.handed[id] = make(chan struct{})
	}
	return q.handed[id]
}

func TestWatcherLifecycle(t *testing.T) {
	dir := t.TempDir()
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	w := New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	// Files are written elsewhere and renamed in, as the contract says.
	drop := func(name, content string) {
		tmp := filepath.Join(dir, "."+name+".tmp")
		os.WriteFile(tmp, []byte(content), 0o600)
		os.Rename(tmp, filepath.Join(dir, name))
	}
	drop("one.eml", "X-Receiver: a@example.test\nSubject: x\n\nhi\n")
	drop("broken.eml", "no headers")
	os.WriteFile(filepath.Join(dir, ".partial.eml"), []byte("X-Receiver: a@example.test\n\nhi\n"), 0o600)
	queued := filepath.Join(dir, "one.0000000000000001.queued")
	waitFile := func(path string, exists bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			_, err := os.Stat(path)
			if (err == nil) == exists {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s exists=%v expected", path, exists)
			}
		}
	}
	waitFile(queued, true)
	waitFile(filepath.Join(dir, "broken.bad"), true)
	time.Sleep(50 * time.Millisecond)
	q.mu.Lock()
	if len(q.msgs) != 1 || q.msgs[0].Rcpts[0].Addr != "a@example.test" {
		t.Fatalf("submitted: %+v", q.msgs)
	}
	q.mu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, ".partial.eml")); err != nil {
		t.Error("a dot file was taken")
	}
	// Not handed on yet: the file stays. Restart the watcher: it re-attaches.
	cancel()
	<-done
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go New(Config{Dir: dir, Interval: 10 * time.Millisecond, Queue: q}).Run(ctx)
	time.Sleep(50 * time.Millisecond)
	q.mu.Lock()
	n := len(q.msgs)
	q.mu.Unlock()
	if _, err := os.Stat(queued); err != nil || n != 1 {
		t.Fatalf("after a restart: %v, %d submissions", err, n)
	}
	q.mu.Lock()
	close(q.handed[1])
	q.mu.Unlock()
	waitFile(queued, false)
}

// SR-12: at a start, a .queued file is waited for only when the
// database holds its message, and removed only when the database
// recorded its message's end. A file whose message the database does not
// know — a new database, one restored from a backup older than the
// message, another server's, or its id given since to another message —
// is the message's only copy: it is submitted again, never removed
// (rt29 pick F1).
func TestQueuedFileFateAtStart(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "old.0000000000000007.queued")
	ended := filepath.Join(dir, "done.0000000000000008.queued")
	lost := filepath.Join(dir, "new.0000000000000009.queued")
	for _, f := range []string{kept, ended, lost} {
		os.WriteFile(f, []byte("X-Receiver: a@example.test\nSubject: "+filepath.Base(f)+"\n\nhi\n"), 0o600)
	}
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}, next: 100,
		fates: map[queue.ID]queue.PickupFate{7: queue.PickupQueued, 8: queue.PickupEnded, 9: queue.PickupUnknown}}
	w := New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		q.mu.Lock()
		n := len(q.msgs)
		q.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file the database does not know was not submitted again (%d submissions)", n)
		}
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the file of a message the database holds: %v", err)
	}
	if _, err := os.Stat(ended); !os.IsNotExist(err) {
		t.Fatalf("the file of a message whose end the database recorded is left: %v", err)
	}
	if _, err := os.Stat(lost); !os.IsNotExist(err) {
		t.Fatalf("the old .queued name of the resubmitted file is left: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) { // marked after the submission returned
		if _, err := os.Stat(filepath.Join(dir, "new.restored-0000000000000009.0000000000000065.queued")); err == nil {
			break
		} else if time.Now().After(deadline) {
			ents, _ := os.ReadDir(dir)
			t.Fatalf("the resubmitted file is not marked with its new message: %v (%v)", err, ents)
		}
	}
	q.mu.Lock()
	subj := string(q.msgs[0].Helo)
	q.mu.Unlock()
	if subj != "new.restored-0000000000000009.eml" { // never the application's own name (it may drop a new new.eml)
		t.Errorf("submitted again as %q, want new.restored-0000000000000009.eml", subj)
	}
}

// A recipient named twice in a pickup file — X-Receiver repeated, or To:
// and Cc: naming one mailbox — in either form of an internationalised
// domain, and in any ASCII case of its local part where the domain is
// authoritative, is one recipient, the first spelling kept
// (mailaddr.RcptKey, as RCPT's duplicate test): final delivery or the
// next hop never gets it twice. A relayed domain's local part is the
// destination's to interpret: "Bob@" and "bob@" there are two
// (rt17b-F2).
func TestParseRecipientOnce(t *testing.T) {
	tbl := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil)
	key := func(a string) string { return smtp.RcptKeyIn(tbl, a) }
	for _, c := range []struct{ file, want string }{
		{"X-Receiver: <anna@bücher.example>\nX-Receiver: anna@XN--BCHER-KVA.example\nX-Receiver: Bob@example.test\nX-Receiver: bob@EXAMPLE.test.\nSubject: x\n\nbody\n",
			"[anna@bücher.example Bob@example.test]"},
		{"From: a@example.test\nTo: bob@example.test, Émile@example.test\nCc: BOB@example.test, émile@example.test\nSubject: x\n\nbody\n",
			"[bob@example.test Émile@example.test émile@example.test]"},
		{"X-Receiver: TD@good.test\nX-Receiver: td@good.test\nX-Receiver: td@GOOD.test\nSubject: x\n\nbody\n",
			"[TD@good.test td@good.test]"},
	} {
		env, _, err := Parse([]byte(c.file), key)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(env.Rcpts); got != c.want {
			t.Errorf("recipients %s, want %s", got, c.want)
		}
	}
}
