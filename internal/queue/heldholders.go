package queue

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"
)

// The holder of a copy made again while its message was in delivery
// (heldPrefix) is watched as a record's holder is (rt19 fixa19 item 1).
// The record names that server only after the attempt (one writer per
// message), but the mark beside it can change meanwhile: the server is
// one of those the holders' pass probes (ShadowHolders), so its new
// database id is found during the attempt (ShadowHolderSeen turns the
// copy into one the server may hold only, and the same pass pushes the
// copy again, in delivery or not); and a copy its operator removed, or
// set aside as damaged there (ShadowCopiesDropped, under the message's
// org id, the name the copy was pushed under), makes the message held
// by this server only at once. Otherwise a message whose route hangs
// for the length of a command timeout would count as copied while its
// one copy elsewhere is gone, and a loss of this server's disk in that
// window would lose it.

// addHeldHolders adds to out, per server, the messages still needing a
// copy whose copy made again in delivery that server holds and whose
// record names another server (or none) — and those a copy was pushed to
// without confirmation (a mark's pushed list: the server may hold the
// copy, receipt42 item 1). Such a server may take its copy over while
// this server is down, as a confirmed holder does: it is probed, and
// the start asks it what it took over and finished (XQUERYTAKENDONE),
// as every holder. Each server once per message.
func (t *Tx) addHeldHolders(out map[string]int) error {
	return t.tx.Bucket(bucketSingle).ForEach(func(k, v []byte) error {
		_, _, pushed, ok := singleMark(v)
		if !ok || len(k) != 8 || len(pushed) == 0 {
			return nil
		}
		m, err := t.Get(ID(binary.BigEndian.Uint64(k)))
		if err != nil || !needsCopyMarked(m) {
			return nil // gone, or settled: the mark is stale
		}
		var seen []string
		for _, p := range pushed { // the held one among them (heldPrefix)
			if needsCopy(m) && sameServer(m.ShadowServer, p) || slices.ContainsFunc(seen, func(s string) bool { return sameServer(s, p) }) {
				continue // counted by its record, or already
			}
			seen = append(seen, p)
			out[p]++
		}
		return nil
	})
}

// dropHeldOn is ShadowCopiesDropped for the copies made again in
// delivery that server holds (heldPrefix): each message still needing
// a copy whose held copy is named in want (by its org id), or any for
// DroppedEvery, is marked held by this server only in this commit —
// lost on server, how it befell it (HowRemoved, HowDamaged) — and its
// copy is made again at the next pass, in delivery or not. A copy set
// aside as damaged may not be the one removed: server stays one that
// may hold it (it gets the discard once the copy is made elsewhere); a
// removed one is gone there. It returns the messages marked.
func (t *Tx) dropHeldOn(server string, want map[string]bool, now time.Time) ([]*Message, error) {
	b := t.tx.Bucket(bucketSingle)
	type mark struct {
		m *Message
		v []byte
	}
	var found []mark
	if err := b.ForEach(func(k, v []byte) error {
		if h := singleHeld(v); h == "" || len(k) != 8 || !sameServer(h, server) {
			return nil
		}
		m, err := t.Get(ID(binary.BigEndian.Uint64(k)))
		if err != nil || !needsCopyMarked(m) || m.OrgID == "" {
			return nil
		}
		if want[m.OrgID] || want[DroppedEvery] {
			found = append(found, mark{m, bytes.Clone(v)})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []*Message
	for _, f := range found {
		how := HowRemoved
		if want[DroppedEvery] && !want[f.m.OrgID] {
			how = HowDamaged
		}
		lost := server + howSep + how
		if why := singleRefusal(f.v); why != "" {
			lost += refusedSep + why // kept
		}
		_, _, pushed, _ := singleMark(f.v) // names without the prefix
		keep := make([]string, 0, len(pushed))
		for _, p := range pushed {
			if !sameServer(p, server) || how == HowDamaged {
				keep = append(keep, p)
			}
		}
		if err := t.markSingleKind(f.m.ID, lost, now, keep); err != nil {
			return nil, err
		}
		out = append(out, f.m)
	}
	return out, nil
}
