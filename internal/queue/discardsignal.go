package queue

import "sync"

// discardSignals wakes shadow sessions waiting for a discard
// notification (XQUERYDISCARD WAIT=, shadow verbs version 2): one
// channel per shadow server, closed at the next commit of a notification
// for it. The zero value is ready.
type discardSignals struct {
	mu  sync.Mutex
	chs map[string]chan struct{}
	// watchers counts, per shadow server, its sessions here that long
	// poll (XQUERYDISCARD WAIT=) and are still open: its watch session
	// (watchfetch.go).
	watchers map[string]int
	// fetched: one channel per shadow server, closed at its next
	// acknowledgement of notifications it was sent (forgetSent).
	fetched map[string]chan struct{}
	// acks counts, per shadow server, its acknowledgements
	// (signalFetched): DiscardAcks.
	acks map[string]uint64
}

func (d *discardSignals) wait(server string) <-chan struct{} {
	server = serverKey(server) // a holder is one server whatever its spelling (holderfold.go)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.chs == nil {
		d.chs = map[string]chan struct{}{}
	}
	ch := d.chs[server]
	if ch == nil {
		ch = make(chan struct{})
		d.chs[server] = ch
	}
	return ch
}

// waiting reports whether a session has asked to be woken by the next
// notification for server (and not been woken since): the commit that
// writes one must not be deferred (Store.UpdateDeferred).
func (d *discardSignals) waiting(server string) bool {
	server = serverKey(server)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chs[server] != nil
}

// any reports whether a session waits for a notification for any
// server.
func (d *discardSignals) any() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.chs) > 0
}

// signal is called after a commit that added notifications for server.
func (d *discardSignals) signal(server string) {
	server = serverKey(server)
	d.mu.Lock()
	ch := d.chs[server]
	delete(d.chs, server)
	d.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// DiscardSignal returns a channel closed when the next discard
// notification for a shadow server has committed (smtp.DiscardSignaller):
// a primary answers a waiting shadow server at once instead of being
// polled.
//
// Results set aside to ride along with a later commit
// (Store.UpdateDeferred) are committed at once: a notification among
// them is now waited for.
func (q *Manager) DiscardSignal(server string) <-chan struct{} {
	ch := q.dsig.wait(server)
	q.store.Flush()
	return ch
}
