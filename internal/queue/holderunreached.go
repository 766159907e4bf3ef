package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Copies on a holder that stays unreachable (rt37 life F4). A shadow
// server that dies for good never comes back with a new database id:
// nothing in ShadowHolderSeen marks the copies it held, and its primary
// kept saying "copy: on SERVER" of messages that lived on one disk. The
// holder's side takes a primary over after shadow_heartbeat_timeout ×
// shadow_heartbeat_retry_count without an answer (SR-6); the primary's
// side now takes the same bound for its holder: a holder that no probe
// reached for that long (package shadow, Holders) has its copies taken
// as lost. ShadowHolderUnreachable marks every message still pending
// here whose copy is on it held by this server only (HowUnreachable,
// since the first failed probe), and keeps the holder in the mark as a
// server that may hold the copy all the same (the pushed list): the
// commit that names the copy made again on another server writes the
// holder's discard (nameCopyHolder, discardFormerCopy), as does every
// end of the message (settleSingleMark). A holder that comes back with
// its copies — a long outage, not a lost disk — fetches that discard at
// its first heartbeat here and drops its copy, so only one server
// holds the message's copy afterwards. A holder that answers a probe
// before the copy was made again still holds it: ShadowHolderAnswered
// drops the marks (a mark with a push to another server in it stays:
// the copy made again settles it, with that server's discard).
//
// Not covered: the returning holder fetches its discard from this
// server; if this server dies before that, both the returning holder
// and the new one hold a copy and both take it over after the bound
// (two failures; duplicates suppressed at final delivery, SR-11, as
// for any double takeover). The time of the first failed probe is kept
// in memory: a restart of this server starts the bound again (the
// marks already written stay).

// HowUnreachable: the copy's holder has not answered a probe for the
// takeover bound (ShadowHolderUnreachable); its copy is taken as lost.
const HowUnreachable = "unreachable"

// ShadowHolderUnreachable marks every message still pending here whose
// copy is on server held by this server only, since since (the first
// probe of server that failed, or its last session here when later:
// shadow.HeardStore) or the message's arrival when that is later, in
// one commit; a message marked already
// (for any reason) keeps its mark. It returns how many it marked.
func (q *Manager) ShadowHolderUnreachable(server string, since time.Time) (int, error) {
	return q.shadowHolderLost(server, since, "")
}

// ShadowHolderRefusing is ShadowHolderUnreachable for a holder that
// answered every probe of the bound and refused it (reply, its 5xx)
// without presenting the database its copies were made on: it may be
// another host at its address, so its copies are taken as lost all the
// same, and the WARN of each message says it refused, with its reply —
// not "not reachable", of a server that answers.
func (q *Manager) ShadowHolderRefusing(server string, since time.Time, reply string) (int, error) {
	return q.shadowHolderLost(server, since, reply)
}

// shadowHolderLost is ShadowHolderUnreachable, the holder having refused
// with reply when it is not "".
func (q *Manager) shadowHolderLost(server string, since time.Time, reply string) (int, error) {
	if server == "" {
		return 0, nil
	}
	// The messages to mark are found in a read transaction; the write
	// transaction, the single writer, runs only when there are some and
	// reads only those. Called at every pass while the holder stays
	// silent, nearly every pass finds every copy marked already: the
	// scan of the whole queue in a write transaction, committed with
	// nothing changed, held the writer (and an fsync) that long each
	// time (watch40 item 5; BenchmarkHolderUnreachablePass).
	var ids []ID
	err := q.store.View(func(tx *Tx) error {
		ids = tx.unmarkedCopiesOn(server, ids[:0])
		return nil
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var marked []*Message
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		marked = marked[:0]
		aliases := tx.holderAliasesTx(server)
		for _, id := range ids {
			// Read again: a commit between the two transactions may have
			// ended the message, moved its copy or marked it.
			m, err := tx.Get(id)
			if errors.Is(err, ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if !holdsCopyOnAny(m, server, aliases) || tx.markedSingle(m.ID) {
				continue
			}
			// The holder stays one that may hold the copy: the copy
			// made again elsewhere, or the message's end, writes its
			// discard.
			pushed := append(tx.keptHolders(m.ID, server), m.ShadowServer)
			// Held alone from the later of the holder's silence and the
			// message's arrival: never since a time it was not here.
			at := since
			if m.Arrived.After(at) {
				at = m.Arrived
			}
			if err := tx.markSingleKind(m.ID, server+howSep+HowUnreachable, at, pushed); err != nil {
				return err
			}
			marked = append(marked, m)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, m := range marked {
		if reply != "" {
			q.log.Warn("shadow server refused this server's probes for the takeover bound without presenting the transport database its copies were made on: its copy is taken as lost, the message is held by this server only until its copy is made again on another shadow server",
				"msg_id", m.ID.String(), "shadow_server", server, "unreachable_since", since.UTC().Format(time.RFC3339), "reply", reply)
			continue
		}
		q.log.Warn("shadow server not reachable for the takeover bound: its copy is taken as lost, the message is held by this server only until its copy is made again on another shadow server (none without a topology: until the message is done)",
			"msg_id", m.ID.String(), "shadow_server", server, "unreachable_since", since.UTC().Format(time.RFC3339))
	}
	return len(marked), nil
}

// unmarkedCopiesOn appends to ids the messages whose copy is on server
// (holdsCopyOnAny) and that are not marked held by this server only. A
// message marked already is passed over by its key, not decoded: in an
// outage nearly all are, at every pass.
func (t *Tx) unmarkedCopiesOn(server string, ids []ID) []ID {
	aliases := t.holderAliasesTx(server)
	single := t.tx.Bucket(bucketSingle)
	c := t.messages.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if _, _, _, marked := singleMark(single.Get(k)); marked {
			continue
		}
		t.decoded++
		m, err := decodeMessage(v)
		if err != nil || len(k) != 8 || m.ID != ID(beUint64(k)) {
			continue // a damaged record: the damaged scan's (damaged.go)
		}
		if holdsCopyOnAny(m, server, aliases) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// ShadowHolderAnswered drops the marks ShadowHolderUnreachable wrote for
// server's copies that were not made again meanwhile: server answered a
// probe (with the database id recorded for it: a new one marked them
// lost, ShadowHolderSeen, which rewrites the mark) and still holds them.
// A mark that names a push to another server, or a copy made again in
// delivery, stays: the copy made again settles it. It returns how many
// marks went.
func (q *Manager) ShadowHolderAnswered(server string) (int, error) {
	if server == "" {
		return 0, nil
	}
	n := 0
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		n = 0
		b := tx.tx.Bucket(bucketSingle)
		var keys [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			lost, _, pushed, ok := singleMark(v)
			if !ok || singleHow(v) != HowUnreachable || !sameServer(lost, server) || singleHeld(v) != "" {
				continue
			}
			alone := true
			for _, p := range pushed {
				if !sameServer(p, server) {
					alone = false
				}
			}
			if alone {
				keys = append(keys, append([]byte(nil), k...))
			}
		}
		for _, k := range keys {
			if err := tx.dropMark(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil && n > 0 {
		q.log.Info("shadow server answers again with its copies: its messages are no longer held by this server only", "shadow_server", server, "messages", n)
	}
	return n, err
}

// unreachableText is SingleCopy.String of a HowUnreachable mark.
func unreachableText(sc SingleCopy) string {
	return fmt.Sprintf("held by this server only since %s: its shadow server %s has not answered a probe nor opened a session here since then (the takeover bound, shadow_heartbeat_timeout × shadow_heartbeat_retry_count, passed); its copy there is taken as lost and made again on another shadow server (none without a topology: held here alone until the message is done), and the copy on %s is discarded",
		sc.Since.UTC().Format(time.RFC3339), sc.Lost, sc.Lost)
}
