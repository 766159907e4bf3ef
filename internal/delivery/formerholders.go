package delivery

import (
	"context"
	"errors"

	"umbra/internal/mailaddr"
	"umbra/internal/smtp"
)

// Former holders: shadow servers of this server's messages that the
// topology in force no longer lists as transport servers — removed by a
// reload or at a restart, or listed now with another role — while they
// hold copies made here, or are owed discard notifications (rt31a F2).
// Their own shadow sessions are refused here (no transport server of the
// topology), so their discard queries fetch nothing: the discards this
// server owes them stayed owed for good, and when this server died they
// took the copies over and delivered a second time what was delivered
// here long before. A topology change ends no copy: as long as this
// server knows where such a server is — the address it made the copies
// at (queue holderaddr.go), or the topology's address for a server it
// still lists in another role — the discards owed to it are pushed
// there (XDISCARD, as at a stop and to a holder whose sessions are
// refused here), at every pass of the holders and at a stop. One whose
// address is not known (copies made by a release without the record, a
// holder that relayed here and was removed before a pass recorded it)
// keeps its copies until its expiry, as before.

// HolderAddrStore is the queue's record of where each shadow server was
// reached (queue.Manager, holderaddr.go).
type HolderAddrStore interface {
	HolderAddress(name string) (string, error)
	NoteHolderAddress(name, addr string) error
	HolderAddresses() (map[string]string, error)
}

// noteHolderAddr records addr as where the shadow server name was
// reached, when the holders' store keeps it; a failure is logged (the
// next session or pass records it again).
func (r *ReceiptShadow) noteHolderAddr(name, addr string) {
	hs, ok := r.holders.(HolderAddrStore)
	if !ok || name == "" || addr == "" {
		return
	}
	if err := hs.NoteHolderAddress(name, addr); err != nil {
		r.d.log.Error("recording where a shadow server was reached failed", "shadow_server", name, "address", addr, "err", err)
	}
}

// formerHolderAddr is where the discards owed to server are pushed when
// the topology in force lists it as no transport server (its own
// sessions are refused here): the topology's address for a server it
// lists in another role, else the address recorded when this server
// reached it. "" for a transport server of the topology (its queries
// fetch its discards, or it is a refused holder: pushToRefused), without
// a topology, or when nothing is known of it.
func (r *ReceiptShadow) formerHolderAddr(server string) string {
	return r.d.formerAddr(r.d.st.Load(), r.holders, server)
}

// formerAddr is formerHolderAddr for the configuration st, reading the
// recorded address from store when it keeps them (HolderAddrStore).
func (d *Deliverer) formerAddr(st *state, store any, server string) string {
	if st == nil || st.cfg.Topology == nil || pushID(st) == "" || server == "" ||
		mailaddr.NameKey(server) == mailaddr.NameKey(pushID(st)) || st.cfg.Topology.Transport(server) {
		return ""
	}
	if s, ok := st.cfg.Topology.Server(server); ok && s.Address != "" {
		return s.Address
	}
	hs, ok := store.(HolderAddrStore)
	if !ok {
		return ""
	}
	addr, err := hs.HolderAddress(server)
	if err != nil {
		d.log.Error("reading where a shadow server was reached failed", "shadow_server", server, "err", err)
		return ""
	}
	return addr
}

// pushToFormer hands the discard notifications owed to server, a former
// holder, at the address formerHolderAddr gives, within
// StopPushPerServer, and returns the transport database id it answered
// with when the session reached it as that holder ("" otherwise: not
// reached, another server at the address, a session broken, or the
// holder's name stated with another database than the one it was met
// with: metWith). The
// session is opened while none is owed too: a former holder's own
// sessions are refused here and no probe goes to a server the topology
// does not name, so this hand-over is the one sign that it is up and
// holds its copies (sites48 F2: its copies were taken as lost at the
// takeover bound — "not reachable", while it took its discards in the
// same pass — made again elsewhere, and the discard of its own copy
// never written: it took the copy over at this server's failure and
// delivered it a second time).
func (r *ReceiptShadow) pushToFormer(ctx context.Context, server string, q OwedDiscards) string {
	addr := r.formerHolderAddr(server)
	if addr == "" {
		return ""
	}
	st := r.d.st.Load()
	ctx, cancel := context.WithTimeout(ctx, StopPushPerServer)
	defer cancel()
	var db string
	n, err := r.d.pushDiscardsEnd(ctx, st, server, addr, q, func(c *smtp.Client) {
		db = c.ShadowDB
		quit(ctx, c)
	})
	switch {
	case errors.Is(err, smtp.ErrNoPush):
	case err != nil:
		db = "" // not the holder (errNotTheFormerHolder), or the session broke
		r.d.log.Info("discard notifications not all handed to a shadow server the topology no longer lists; tried again at the next pass",
			"shadow_server", server, "address", addr, "handed", n, "err", err)
	case n > 0:
		r.d.log.Info("discard notifications handed to a shadow server the topology no longer lists, at the address its copies were made at (its own queries are refused)",
			"shadow_server", server, "address", addr, "count", n)
	}
	if db != "" && !metWith(q, server, db) {
		// It states the holder's name with another database (wiped,
		// reinstalled, restored): its discards are handed, but it is
		// no answer for the copies made here — a holder of the
		// topology back so has them taken as lost and made again
		// (holderSeen), and this one is judged as before.
		db = ""
	}
	return db
}

// metWith reports whether db is the transport database id recorded for
// server when this server met it (queue ShadowHolderID): only then does
// an answer from it say it holds the copies made here.
func metWith(q any, server, db string) bool {
	h, ok := q.(interface {
		ShadowHolderID(server string) (string, error)
	})
	if !ok {
		return false
	}
	want, err := h.ShadowHolderID(server)
	return err == nil && want != "" && want == db
}

// formerStale lists the servers owed discard notifications that are
// former holders with a known address, for the holders' pass (Stale);
// and records, for each one owed that is a transport server of the
// topology, its address there — so that a holder that relayed here
// (whose copy this server did not make) is found after a reload that
// removes it.
func (r *ReceiptShadow) formerStale(owed []string) []string {
	st := r.d.st.Load()
	if st == nil || st.cfg.Topology == nil {
		return nil
	}
	var out []string
	for _, n := range owed {
		if st.cfg.Topology.Transport(n) {
			if s, ok := st.cfg.Topology.Server(n); ok {
				r.noteHolderAddr(n, s.Address)
			}
			continue
		}
		if r.formerHolderAddr(n) != "" {
			out = append(out, n)
		}
	}
	return out
}

// pruneHolderAddrs forgets the addresses of servers the topology no
// longer lists that are owed nothing and hold no copy of a message
// queued here (held: the holders of queued messages): nothing is left
// to hand them.
func (r *ReceiptShadow) pruneHolderAddrs(owed []string, held map[string]int) {
	hs, ok := r.holders.(HolderAddrStore)
	st := r.d.st.Load()
	if !ok || st == nil || st.cfg.Topology == nil {
		return
	}
	addrs, err := hs.HolderAddresses()
	if err != nil {
		return
	}
	keep := map[string]bool{}
	for _, n := range owed {
		keep[mailaddr.NameKey(n)] = true
	}
	for n := range held {
		keep[mailaddr.NameKey(n)] = true
	}
	for k := range addrs {
		if _, listed := st.cfg.Topology.Server(k); listed || keep[k] {
			continue
		}
		if err := hs.NoteHolderAddress(k, ""); err == nil {
			r.d.log.Info("address of a former shadow server forgotten: the topology no longer lists it, and nothing is owed to it or held on it", "shadow_server", k)
		}
	}
}
