package queue

import (
	"errors"
	"slices"
	"strings"
)

// UnconfirmedPush is a server a copy on receipt of a message was pushed
// to without confirmation (README "Unconfirmed copies"): it may hold the
// copy. DiscardOwed: the discard of that copy is written for it and not
// fetched yet (the copy was made on another server); else the server is
// still named in the message's mark, and gets the discard when the copy
// is made elsewhere or the message ends.
type UnconfirmedPush struct {
	Server      string `json:"server"`
	DiscardOwed bool   `json:"discard_owed"`
}

// UnconfirmedPushes lists, in name order, the servers that may hold a
// copy on receipt of message id without its being confirmed (rt20a F3):
// those its mark keeps as pushed to without confirmation, and those a
// discard of its copy (its org id) is owed to and not fetched yet; the
// caller leaves out the server that holds the confirmed copy. One
// read; a cursor seek per server with discards owed, never a scan of
// them all.
func (q *Manager) UnconfirmedPushes(id ID) []UnconfirmedPush {
	out, _ := q.UnconfirmedPushesOrg(id, "")
	return out
}

// UnconfirmedPushesOrg is UnconfirmedPushes for message id of org id
// orgID, whose record may be gone (gone): it left this server — an
// attempt's end, a removal — while a copy made again was in flight
// (rdleft45). Its end owed the discard of its copy (the org id) to
// each server its mark named, and the commit recording the copy made
// again owed it to that copy's holder (ShadowRecopiedOrg): those are
// listed then, every one DiscardOwed, found by orgID ("": none).
//
// A read that fails lists what it read (nothing, mostly) and is logged
// at WARN: no server can be named in place of those it could not read,
// and taken in silence for "none owed" it hid that discards may not have
// been handed before a reply (rcpt47 item 2's sibling).
func (q *Manager) UnconfirmedPushesOrg(id ID, orgID string) (out []UnconfirmedPush, gone bool) {
	rerr := q.store.View(func(tx *Tx) error {
		m, err := tx.Get(id)
		if errors.Is(err, ErrNotFound) && orgID != "" {
			gone = true
			m = &Message{ID: id, OrgID: orgID}
		} else if errors.Is(err, ErrNotFound) {
			return nil // gone, and no org id to find its discards by
		} else if err != nil {
			return err
		}
		seen := map[string]int{}
		add := func(server string, owed bool) {
			if server == "" {
				return
			}
			if i, ok := seen[serverKey(server)]; ok {
				out[i].DiscardOwed = out[i].DiscardOwed || owed
				return
			}
			seen[serverKey(server)] = len(out)
			out = append(out, UnconfirmedPush{Server: server, DiscardOwed: owed})
		}
		v := tx.tx.Bucket(bucketSingle).Get(id.Key())
		if _, _, pushed, ok := singleMark(v); ok {
			held := singleHeld(v)
			for _, p := range pushed {
				if !sameServer(p, held) {
					add(p, false)
				}
			}
		}
		if m.OrgID != "" {
			b := tx.tx.Bucket(bucketDiscards)
			c := b.Cursor()
			for k, _ := c.First(); k != nil; {
				i := slices.Index(k, 0)
				if i < 0 {
					k, _ = c.Next()
					continue
				}
				server := string(k[:i])
				if b.Get(discardKey(server, m.OrgID)) != nil {
					add(server, true)
				}
				k, _ = c.Seek(append([]byte(server), 1)) // the next server's first
			}
		}
		return nil
	})
	if rerr != nil {
		q.log.Warn("reading the unconfirmed pushes of a message's shadow copy failed: the discards owed to the servers that may hold it may not be handed before the reply (each fetches its own at its next contact)",
			"msg_id", id.String(), "org_id", orgID, "err", rerr)
	}
	slices.SortFunc(out, func(a, b UnconfirmedPush) int { return strings.Compare(a.Server, b.Server) })
	return out, gone
}
