package shadowstore

import (
	"time"

	"umbra/internal/queue"
	"umbra/internal/shadow"
)

// Store is the queue manager seen as a shadow.Store. It holds a pointer
// to the manager's variable because the shadow manager is built first
// (the queue manager needs it); the variable is set before Run.
type Store struct{ M **queue.Manager }

func (s Store) Primaries() ([]shadow.Primary, error) {
	peers, err := (*s.M).ShadowPeers()
	out := make([]shadow.Primary, 0, len(peers))
	for _, p := range peers {
		out = append(out, shadow.Primary{Name: p.Primary, Addr: p.Addr, DatabaseID: p.DatabaseID,
			LastContact: p.LastContact, LastTry: p.LastTry, Failures: p.Failures, TakenOver: p.TakenOver})
	}
	return out, err
}

func (s Store) Contact(p, dbID string, discards []string) (shadow.ContactResult, error) {
	r, err := (*s.M).ShadowContact(p, dbID, discards)
	return shadow.ContactResult{OldDatabaseID: r.OldDatabaseID, TakenOver: r.TakenOver, Discarded: r.Discarded,
		Retried: r.Retried}, err
}

func (s Store) Presented(p, dbID string, discards []string) (shadow.ContactResult, error) {
	r, err := (*s.M).ShadowPresented(p, dbID, discards)
	return shadow.ContactResult{OldDatabaseID: r.OldDatabaseID, TakenOver: r.TakenOver, Discarded: r.Discarded}, err
}

func (s Store) HeartbeatFailed(p string, started time.Time, retries int, reason string) (int, int, error) {
	return (*s.M).ShadowHeartbeatFailed(p, started, retries, reason)
}
