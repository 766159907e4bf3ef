package queue

import (
	"context"
	"sync"
)

// A discard owed to a server that may hold a copy on receipt — its push
// went unconfirmed, and the copy was made on another server within the
// same receipt — must reach it before the sender's 250 when it can: the
// 250 leaves this server free to die for good, and a server left holding
// the copy without its discard takes it over and delivers it a second
// time (SR-17). A server whose push hung lately is handed nothing on a
// session of this server's (delivery handMayHoldDiscards: it would hang
// that too); its own watch session to this server, open all along, is
// woken by the commit that owed the discard (owedsignal.go) and fetches
// it within a round trip. The commit's wake alone was no promise: the
// 250 left at once, and a kill -9 right after it beat the wake's reply
// (CI of session 44, TestSR17OwedDiscardReachesTheWatchingServerBeforeTheKill:
// two deliveries). So the receipt waits, within its bound, for that
// session's acknowledgement — the server's next command after the
// reply, sent once the batch is saved there (delivery Watch) — of the
// discard: WatchOpened counts the watch sessions, forgetSent wakes the
// waiters (signalFetched), AwaitDiscardFetched waits.

// WatchOpened records that server long polls here on a session that is
// open (its watch session, XQUERYDISCARD WAIT=); end, called once when
// that session closes, forgets it. end may be called more than once.
func (q *Manager) WatchOpened(server string) (end func()) {
	q.dsig.watch(server, 1)
	var once sync.Once
	return func() { once.Do(func() { q.dsig.watch(server, -1) }) }
}

// Watched reports whether server has a watch session open here
// (WatchOpened): a discard owed to it is fetched within a round trip.
func (q *Manager) Watched(server string) bool { return q.dsig.watched(server) }

// DiscardAcks counts server's acknowledgements of notifications sent to
// it, since this process started: a receipt whose wait for server's
// watch session ran out (AwaitDiscardFetched) reads it before waiting,
// and does not wait again while it has not moved — the session is
// silent (its server stalled in the save), and each receipt held its
// 250 for nothing (delivery handMayHoldDiscards, rdwatch45).
func (q *Manager) DiscardAcks(server string) uint64 { return q.dsig.ackCount(server) }

// AwaitDiscardFetched waits until the discard of message id's copy owed
// to server has been fetched by server — sent, and acknowledged by its
// next command (forgetSent) — or is owed no more, reporting true; false
// when ctx ended first, when server has no watch session open here (no
// one would fetch it before its next contact: its last one's end wakes
// the wait, watch), or when the message cannot be read.
func (q *Manager) AwaitDiscardFetched(ctx context.Context, id ID, server string) bool {
	return q.awaitFetched(ctx, server, func() (bool, error) { return q.discardOwed(id, server) })
}

// AwaitOrgDiscardFetched is AwaitDiscardFetched for the copy of org id
// orgID: a message that left this server before its copy on receipt was
// confirmed has no record left to read the org id from (smtp receipt.go,
// "left this server before its shadow copy was confirmed").
func (q *Manager) AwaitOrgDiscardFetched(ctx context.Context, orgID, server string) bool {
	return q.awaitFetched(ctx, server, func() (bool, error) { return q.orgDiscardOwed(orgID, server) })
}

// awaitFetched waits until owed reports false (fetched, or owed no
// more), ctx ends or server's watch sessions all end.
func (q *Manager) awaitFetched(ctx context.Context, server string, owedNow func() (bool, error)) bool {
	for {
		ch := q.dsig.fetchedWait(server) // before the look: an acknowledgement between the two is not missed
		owed, err := owedNow()
		switch {
		case err != nil:
			return false
		case !owed:
			return true
		case !q.dsig.watched(server):
			return false
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// discardOwed reports whether a full discard of message id's copy is
// owed to server (under any name its notifications are filed under:
// holderNamesTx) and not acknowledged: an entry whose forgetting is
// under way is fetched (owed reads it so).
func (q *Manager) discardOwed(id ID, server string) (owed bool, err error) {
	forgetting := q.forgetting.snapshot() // before the store, as owed reads it
	err = q.store.View(func(tx *Tx) error {
		m, err := tx.Get(id)
		if err != nil {
			return err
		}
		owed = tx.discardOwedTx(forgetting, m.OrgID, server)
		return nil
	})
	return owed, err
}

// OrgDiscardOwed reports whether the discard of the copy of org id
// orgID is owed to server and not fetched (acknowledged) yet. A read
// that fails is no answer, and answers owed (rcpt47 item 2): "not
// owed" had the receipt hand server nothing before its 250, leaving it
// free to take its copy over once this server dies; owed, the hand-over
// is tried (and server, owed nothing there after all, ignores it).
func (q *Manager) OrgDiscardOwed(orgID, server string) bool {
	owed, err := q.orgDiscardOwed(orgID, server)
	return owed || err != nil
}

// orgDiscardOwed is discardOwed for the copy of org id orgID. A read
// that fails is logged at WARN here, with the server and the org id
// (never the message's content), and returned: the caller takes it as
// owed, or as not fetched (awaitFetched).
func (q *Manager) orgDiscardOwed(orgID, server string) (owed bool, err error) {
	forgetting := q.forgetting.snapshot()
	err = q.store.View(func(tx *Tx) error {
		owed = tx.discardOwedTx(forgetting, orgID, server)
		return nil
	})
	if err != nil {
		q.log.Warn("reading whether a shadow copy's discard is owed failed: taken as owed (handed, or waited for, again)",
			"shadow_server", server, "org_id", orgID, "err", err)
	}
	return owed, err
}

// discardOwedTx reports whether the full discard of copy orgID is owed
// to server in t, under any of its names, and not being forgotten.
func (t *Tx) discardOwedTx(forgetting forgettingNow, orgID, server string) bool {
	if orgID == "" {
		return false
	}
	b := t.tx.Bucket(bucketDiscards)
	for _, name := range t.holderNamesTx(server) {
		k := discardKey(name, orgID)
		if v := b.Get(k); v != nil && !forgetting.under(false, k, v) {
			return true
		}
	}
	return false
}

// watch adds n to server's open watch sessions. The last one's end
// wakes those waiting for server's acknowledgement (fetchedWait): no one
// fetches before its next contact now, and a receipt that waited on
// (AwaitDiscardFetched) held its 250 for the rest of its share of the
// bound for nothing — each receipt under way when the server was killed
// (rdwatch45).
func (d *discardSignals) watch(server string, n int) {
	server = serverKey(server)
	d.mu.Lock()
	if d.watchers == nil {
		d.watchers = map[string]int{}
	}
	var gone chan struct{}
	if d.watchers[server] += n; d.watchers[server] <= 0 {
		delete(d.watchers, server)
		gone = d.fetched[server]
		delete(d.fetched, server)
	}
	d.mu.Unlock()
	if gone != nil {
		close(gone)
	}
}

func (d *discardSignals) watched(server string) bool {
	server = serverKey(server)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.watchers[server] > 0
}

// fetchedWait returns a channel closed at server's next acknowledgement
// of notifications sent to it.
func (d *discardSignals) fetchedWait(server string) <-chan struct{} {
	server = serverKey(server)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fetched == nil {
		d.fetched = map[string]chan struct{}{}
	}
	ch := d.fetched[server]
	if ch == nil {
		ch = make(chan struct{})
		d.fetched[server] = ch
	}
	return ch
}

// ackCount is server's acknowledgements so far (signalFetched).
func (d *discardSignals) ackCount(server string) uint64 {
	server = serverKey(server)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acks[server]
}

// signalFetched wakes those waiting for server's next acknowledgement.
func (d *discardSignals) signalFetched(server string) {
	server = serverKey(server)
	d.mu.Lock()
	if d.acks == nil {
		d.acks = map[string]uint64{}
	}
	d.acks[server]++
	ch := d.fetched[server]
	delete(d.fetched, server)
	d.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}
