package shadowstore

import (
	"errors"
	"time"

	"umbra/internal/queue"
	"umbra/internal/shadow"
)

// Store is the queue manager seen as a shadow.Store. It holds a pointer
// to the manager's variable because the shadow recorder is built before
// the deliverer, and the deliverer before the queue manager (which is
// handed it): the variable is set before anything runs. The shadow
// manager itself is built after the queue manager.
type Store struct{ M **queue.Manager }

func (s Store) Primaries() ([]shadow.Primary, error) {
	peers, err := (*s.M).ShadowPeers()
	urgent := (*s.M).ShadowUrgent() // senders waiting on a primary's discard (SR-9)
	out := make([]shadow.Primary, 0, len(peers))
	for _, p := range peers {
		out = append(out, shadow.Primary{Name: p.Primary, Addr: p.Addr, DatabaseID: p.DatabaseID,
			LastContact: p.LastContact, LastTry: p.LastTry, Failures: p.Failures, TakenOver: p.TakenOver, TakeoverFailures: p.TakeoverFailures,
			UrgentUntil: urgent[p.Primary], LastHeard: (*s.M).ShadowLastHeard(p.Primary),
			Heard: (*s.M).ShadowHeard(p.Primary), Pushed: (*s.M).ShadowPushedHere(p.Primary)})
	}
	return out, err
}

func (s Store) Contact(p, dbID string, mark uint64, discards []string) (shadow.ContactResult, error) {
	r, err := (*s.M).ShadowContactMarked(p, dbID, mark, discards)
	return shadow.ContactResult{OldDatabaseID: r.OldDatabaseID, TakenOver: r.TakenOver, Discarded: r.Discarded,
		Retried: r.Retried}, err
}

func (s Store) Presented(p, dbID string, mark uint64, discards []string) (shadow.ContactResult, error) {
	r, err := (*s.M).ShadowPresentedMarked(p, dbID, mark, discards)
	return shadow.ContactResult{OldDatabaseID: r.OldDatabaseID, TakenOver: r.TakenOver, Discarded: r.Discarded}, err
}

// HeldDone implements shadow.HeldDoneStore.
func (s Store) HeldDone(p, dbID string, done []string) (shadow.ContactResult, error) {
	r, err := (*s.M).ShadowHeldDone(p, dbID, done)
	return shadow.ContactResult{OldDatabaseID: r.OldDatabaseID, TakenOver: r.TakenOver, Discarded: r.Discarded}, err
}

// PresentedDigest implements shadow.DigestStore.
func (s Store) PresentedDigest(p, digest string) (shadow.ContactResult, error) {
	r, err := (*s.M).ShadowPresentedDigest(p, digest)
	return shadow.ContactResult{OldDatabaseID: r.OldDatabaseID, TakenOver: r.TakenOver, SameDatabase: r.SameDatabase}, err
}

// NoteDigestless implements shadow.EarlierReleaseStore.
func (s Store) NoteDigestless(p, dbID string, digestless bool) error {
	return (*s.M).NoteDigestless(p, dbID, digestless)
}

// Digestless implements shadow.EarlierReleaseStore.
func (s Store) Digestless(p string) (bool, error) { return (*s.M).Digestless(p) }

func (s Store) HeartbeatFailed(p string, started time.Time, timeout time.Duration, retries int, reason string) (int, int, error) {
	f, t, err := (*s.M).ShadowHeartbeatFailed(p, started, timeout, retries, reason)
	switch {
	case errors.Is(err, queue.ErrAnsweredSince):
		err = shadow.ErrAnsweredSince
	case errors.Is(err, queue.ErrTakeoverDeferred):
		err = shadow.ErrTakeoverDeferred
	case errors.Is(err, queue.ErrTakenOverAlready):
		err = shadow.ErrTakenOverAlready
	case errors.Is(err, queue.ErrDisowned):
		err = shadow.ErrDisowned
	}
	return f, t, err
}

// Disowned implements shadow.DisownStore.
func (s Store) Disowned(p, reply string) error { return (*s.M).ShadowDisowned(p, reply) }

// DisownedUntil implements shadow.DisownStore.
func (s Store) DisownedUntil(p string) (string, time.Time) { return (*s.M).ShadowDisownedUntil(p) }

// Answered implements shadow.AnswerStore.
func (s Store) Answered(p string) { (*s.M).ShadowAnswered(p) }

func (s Store) HeldCopies(p string, after uint64, max int) ([]string, uint64, error) {
	ids, next, err := (*s.M).ShadowCopiesToAsk(p, queue.ID(after), max)
	return ids, uint64(next), err
}

// RestoredWaiting implements shadow.RestoredLister.
func (s Store) RestoredWaiting(p string) (bool, func()) { return (*s.M).RestoredCopiesAsk(p) }

// Holders implements shadow.HolderStore.
func (s Store) Holders() (map[string]int, error) { return (*s.M).ShadowHolders() }

// HolderUnreachable implements shadow.UnreachableStore.
func (s Store) HolderUnreachable(server string, since time.Time) (int, error) {
	return (*s.M).ShadowHolderUnreachable(server, since)
}

// HolderRefusing implements shadow.RefusingStore.
func (s Store) HolderRefusing(server string, since time.Time, reply string) (int, error) {
	return (*s.M).ShadowHolderRefusing(server, since, reply)
}

// HolderHeard implements shadow.HeardStore.
func (s Store) HolderHeard(server string) time.Time { return (*s.M).ShadowHeard(server) }

// HolderAnswered implements shadow.UnreachableStore.
func (s Store) HolderAnswered(server string) (int, error) { return (*s.M).ShadowHolderAnswered(server) }

// SingleCopies implements shadow.HolderStore.
func (s Store) SingleCopies() ([]uint64, error) {
	list, err := (*s.M).SingleCopies()
	ids := make([]uint64, len(list))
	for i, sc := range list {
		ids[i] = uint64(sc.ID)
	}
	return ids, err
}

// MarkSeen implements shadow.MarkStore.
func (s Store) MarkSeen(p, dbID string, mark, floor uint64, floorDB string) (bool, int, error) {
	return (*s.M).ShadowMarkSeen(p, dbID, mark, queue.MarkFloor{Mark: floor, DB: floorDB})
}

// MarkFloor implements shadow.MarkStore.
func (s Store) MarkFloor(p string) (uint64, string) {
	f := (*s.M).ShadowMarkFloor(p)
	return f.Mark, f.DB
}
