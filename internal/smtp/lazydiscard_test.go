package smtp

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// waitCountShadow counts the long polls (DiscardSignal: a session
// waiting for the next discard notification).
type waitCountShadow struct {
	*pushShadow
	wmu   sync.Mutex
	waits int
}

func (w *waitCountShadow) DiscardSignal(server string) <-chan struct{} {
	w.wmu.Lock()
	w.waits++
	w.wmu.Unlock()
	return w.pushShadow.DiscardSignal(server)
}

func (w *waitCountShadow) waited() int {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.waits
}

// lazyShadow also forgets what a lazy query was sent with its next
// commit (LazyDiscarder): a server with one offers version 14.
type lazyShadow struct {
	*waitCountShadow
	lmu  sync.Mutex
	lazy int // DiscardsLazy calls
}

func (l *lazyShadow) DiscardsLazy(server string, max int) ([]string, func()) {
	l.lmu.Lock()
	l.lazy++
	l.lmu.Unlock()
	return l.DiscardsHandBack(server, max)
}

func (l *lazyShadow) lazyAsked() int {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	return l.lazy
}

func newWaitCountShadow() *waitCountShadow {
	return &waitCountShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}}
}

// Version 14 (SR-17): "XQUERYDISCARD <max> LAZY [PARTIAL [TAKEOVER]]" is
// answered at once, with no wait registered (no DiscardSignal: the
// primary's results may ride along with its next commit) and the queue's
// lazy forgetting (LazyDiscarder); LAZY never goes with WAIT=. The client
// asks lazily only a server of 14; with a version-13 peer LazyDiscard is
// the long poll of before, and a server of 13 refuses the lazy form.
func TestLazyDiscardQuery(t *testing.T) {
	sh := &lazyShadow{waitCountShadow: newWaitCountShadow()}
	sh.notes["hub2"] = []string{"a-1", "b-2"}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 14") {
		t.Fatalf("XSHADOW 14 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDISCARD 5 LAZY WAIT=5", "501 5.5.4")
	d.cmd("XQUERYDISCARD 5 WAIT=5 LAZY", "501 5.5.4")
	d.cmd("XQUERYDISCARD LAZY", "501 5.5.4")
	d.cmd("XQUERYDISCARD 0 LAZY", "501 5.5.4")
	if got := d.cmd("XQUERYDISCARD 1 LAZY PARTIAL TAKEOVER", "250"); !strings.Contains(got, "250 a-1") {
		t.Fatalf("reply:\n%s", got)
	}
	if got := d.cmd("xquerydiscard 5 lazy partial takeover", "250"); !strings.Contains(got, "250 b-2") || strings.Contains(got, "a-1") {
		t.Fatalf("the second lazy query (a-1 acknowledged by it):\n%s", got)
	}
	d.cmd("QUIT", "221")
	if n, w := sh.lazyAsked(), sh.waited(); n != 2 || w != 0 {
		t.Fatalf("lazy queries %d, long polls %d; want 2 and 0", n, w)
	}

	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 14 {
		t.Fatalf("client speaks version %d, want 14", c.ShadowVersion)
	}
	sh.notes["hub2"] = []string{"c-3"}
	ids, err := c.LazyDiscard(10, 5*time.Second)
	if err != nil || len(ids) != 1 || ids[0] != "c-3" {
		t.Fatalf("lazy query: %q %v", ids, err)
	}
	start := time.Now()
	if ids, err := c.LazyDiscard(10, 5*time.Second); err != nil || len(ids) != 0 {
		t.Fatalf("lazy query: %q %v", ids, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a lazy query with nothing owed took %v: it waited", el)
	}
	if n, w := sh.lazyAsked(), sh.waited(); n != 4 || w != 0 {
		t.Fatalf("lazy queries %d, long polls %d; want 4 and 0", n, w)
	}
	// A peer of version 13 is never sent the lazy form: the long poll of
	// before, held by the server (nothing owed) for its second.
	c.ShadowVersion = 13
	start = time.Now()
	if ids, err := c.LazyDiscard(10, time.Second); err != nil || len(ids) != 0 {
		t.Fatalf("query to a version-13 peer: %q %v", ids, err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("the version-13 query took %v: not the long poll", el)
	}
	if n, w := sh.lazyAsked(), sh.waited(); n != 4 || w == 0 {
		t.Fatalf("lazy queries %d, long polls %d; want 4 and some", n, w)
	}

	// A server of version 13 refuses the lazy form.
	old := newWaitCountShadow()
	s13 := startShadowServer(t, &markQueue{mark: 1}, old, true, transportConnector(t, ""))
	d13 := dial(t, s13, "")
	d13.expect("220")
	if ehlo := d13.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 13") {
		t.Fatalf("XSHADOW 13 not advertised:\n%s", ehlo)
	}
	d13.cmd(authHub2, "235")
	d13.cmd("XSHADOW hub2", "250")
	if got := d13.cmd("XQUERYDISCARD 5 LAZY PARTIAL TAKEOVER", "501 5.5.4"); strings.Contains(got, "LAZY") {
		t.Fatalf("a version-13 server names LAZY in its syntax reply:\n%s", got)
	}
	d13.cmd("QUIT", "221")
}
