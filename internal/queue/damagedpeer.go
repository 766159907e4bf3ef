package queue

import (
	"slices"
	"sync"
)

// A damaged record of one primary (bucket shadowpeers: bytes of its page
// overwritten, a record of a release that wrote another layout) does not
// decode. It used to fail Tx.Peers, and with it ShadowPeers: no primary
// was listed, heartbeated or taken over — one bad record blocked the
// shadow work of every primary. Tx.Peers now leaves it out and names it,
// and ShadowPeers keeps its name here: logged once (an error naming the
// primary), counted (umbra_shadow_damaged_peer_records), and left as it
// is in the database. The other primaries are watched as before. That
// primary's copies stay kept, listed by shadow list from the copies
// themselves; nothing here heartbeats it (its stored state is not
// known), and its contact fails in its own commit only; the copies are
// taken over at their expiry like any copy no primary confirmed (SR-13).
type damagedPeers struct {
	mu     sync.Mutex
	names  []string        // as the latest ShadowPeers found them
	logged map[string]bool // names logged already (once each)
}

// DamagedPeers names the primaries whose stored record does not decode,
// as the latest ShadowPeers found them.
func (q *Manager) DamagedPeers() []string {
	q.badPeers.mu.Lock()
	defer q.badPeers.mu.Unlock()
	return slices.Clone(q.badPeers.names)
}

// DamagedPeerCount is len(DamagedPeers()), for the metrics.
func (q *Manager) DamagedPeerCount() int { return len(q.DamagedPeers()) }

// noteDamagedPeers keeps names as the damaged peer records, and logs
// each one not logged before.
func (q *Manager) noteDamagedPeers(names []string) {
	q.badPeers.mu.Lock()
	defer q.badPeers.mu.Unlock()
	q.badPeers.names = slices.Clone(names)
	for _, n := range names {
		if q.badPeers.logged[n] {
			continue
		}
		if q.badPeers.logged == nil {
			q.badPeers.logged = map[string]bool{}
		}
		q.badPeers.logged[n] = true
		q.log.Error("the stored state of a shadow primary does not decode: left out, the other primaries are watched; its copies stay until their expiry takes them over",
			"primary", n)
	}
}
