package delivery

import (
	"fmt"
	"sync/atomic"
	"time"

	"umbra/internal/mailaddr"
)

// A holder whose shadow sessions this server's receive side refused
// since the last one let in gets no copy on receipt (refusedSinceLetIn:
// its discard queries would be refused, the copy never discarded). What
// marks it and how the mark ends (rt29a F2: one refused session from
// another address stopped every copy to the server, and with
// reject_on_shadow_failure all mail, until the server's next session
// came):
//
//   - Any refusal of a session whose claim to be the server is its own
//     (package smtp claimOwn) marks it — except one whose only cause is
//     the connection's address, the session's account or certificate
//     valid for the server (smtp.AddressRefusalNoter), while a session
//     of the server was let in here, or completed a query here, within
//     sessionLetInTrust: that one
//     is another host holding a copy of the credential, or the server's
//     own second interface, not the server's sessions — the server's
//     own are let in. Logged (INFO), nothing marked. With no session of
//     it let in that recently it marks the server as any refusal does
//     (a server whose every session comes from an address the topology
//     does not give it must get no copy).
//   - A marked server is tried last, and tried again in its place once a
//     minute (receiptProbe, from the refusal or its last such try; a
//     refusal while marked does not put the try off): that one copy is
//     made there, and the mark stays (copyMadeOn ends nothing: the
//     holder, refused, opens no session here for its heartbeat timeout,
//     so ending the mark at a copy let every later copy go there for
//     minutes). So a refusal leaves copies on receipt one a minute to
//     the server, never none for longer, never more: at most one copy a
//     minute goes where it may never be discarded.
//   - A session of it let in here ends the mark at once (ShadowSessionLetIn).

// sessionLetInTrust is how recent a session of a server let in here must
// be for a refusal of another session stating its name, for its address
// alone, not to be taken as the server's: the default
// shadow_heartbeat_timeout, at most the time between two sessions of a
// holder of copies of this server's messages (its heartbeats; its watch
// asks every few seconds: ShadowSessionAsked).
const sessionLetInTrust = 5 * time.Minute

// sessionRefusal is a server whose shadow sessions are refused here
// since the last one let in (sessionRefusals).
type sessionRefusal struct {
	since   time.Time    // the refusal that marked it
	tried   atomic.Int64 // unix nanoseconds: since, or its last try for a copy in its place
	refused atomic.Int64 // unix nanoseconds: its last refused session noted
	warned  atomic.Bool  // its WARN logged
	// cause is the last refused session's cause when it was told one
	// (ShadowSessionRefusedBecause), nil when it was not.
	cause atomic.Pointer[string]
}

func newSessionRefusal(now time.Time) *sessionRefusal {
	f := &sessionRefusal{since: now}
	f.tried.Store(now.UnixNano())
	f.refused.Store(now.UnixNano())
	return f
}

// refusedAgain notes another refused session of the server at now.
func (f *sessionRefusal) refusedAgain(now time.Time) {
	for {
		last := f.refused.Load()
		if last >= now.UnixNano() || f.refused.CompareAndSwap(last, now.UnixNano()) {
			return
		}
	}
}

// due takes the try in its place for one copy when receiptProbe has
// passed since the refusal or the last try: true for one caller.
func (f *sessionRefusal) due(now time.Time) bool {
	last := f.tried.Load()
	if now.Sub(time.Unix(0, last)) < receiptProbe {
		return false
	}
	return f.tried.CompareAndSwap(last, now.UnixNano())
}

// retryAt is when the server is next tried for a copy in its place.
func (f *sessionRefusal) retryAt() time.Time {
	return time.Unix(0, f.tried.Load()).Add(receiptProbe)
}

// clock is the time of the session refusals' records.
func (r *ReceiptShadow) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// refusedLate: server's sessions are refused here and its try for a
// copy is not due: it is tried after every candidate not marked (a due
// one in its normal place, where refusedSinceLetIn takes the try).
//
// The refusal is kept under the name the holder's sessions state, which
// may not be the one it is dialled as (refusalKey): read under the
// name its last session to here stated.
func (r *ReceiptShadow) refusedLate(now time.Time, server string) bool {
	v, ok := r.sessionRefusals.Load(r.refusalKey(server, ""))
	if !ok {
		return false
	}
	return now.Sub(time.Unix(0, v.(*sessionRefusal).tried.Load())) < receiptProbe
}

// ShadowSessionRefusedByAddress implements smtp.AddressRefusalNoter: a
// session stating serverID, authenticated as it, was refused for its
// address alone. It marks the server (ShadowSessionRefused) only when
// no session of it was let in here within sessionLetInTrust.
func (r *ReceiptShadow) ShadowSessionRefusedByAddress(serverID string) {
	now := r.clock()
	if v, ok := r.sessionsLetIn.Load(mailaddr.NameKey(serverID)); ok {
		if at := time.Unix(0, v.(int64)); now.Sub(at) < sessionLetInTrust {
			r.d.log.Info("a shadow session refused for its address alone is not taken as the server's: a session of that server was let in here since, copies on receipt still go to it (another host holding its credential, or its second interface?)",
				"session_name", serverID, "let_in_at", at.UTC().Format(time.RFC3339))
			return
		}
	}
	r.ShadowSessionRefused(serverID)
}

// refusalWarnEvery paces the WARN of a refusal of a server's sessions
// here: a server whose sessions are refused, let in, refused again is
// WARNed again only this long after the last WARN (in between the
// refusal is still in the 451's log line, queue destinations and shadow
// list).
const refusalWarnEvery = 10 * time.Minute

// refusalWarnDue reports whether a WARN for the refusal of name's
// sessions is due at now, and notes it.
func (r *ReceiptShadow) refusalWarnDue(name string, now time.Time) bool {
	k := mailaddr.NameKey(name)
	if v, ok := r.refusalWarned.Load(k); ok && now.Sub(time.Unix(0, v.(int64))) < refusalWarnEvery {
		return false
	}
	r.refusalWarned.Store(k, now.UnixNano())
	return true
}

// ShadowSessionAsked implements smtp.SessionAskedNoter: a session of
// serverID let in here completed a query (its watch asks every few
// seconds): as recent as a session let in, for
// ShadowSessionRefusedByAddress.
func (r *ReceiptShadow) ShadowSessionAsked(serverID string) {
	now := r.clock().UnixNano()
	r.sessionsLetIn.Store(mailaddr.NameKey(serverID), now)
	r.holderAsked.Store(mailaddr.NameKey(serverID), now) // silentholders.go
}

// copyMadeOn notes a copy on receipt made on server (stated: the name it
// states, "" for server's) while its sessions are refused here — its try
// in its place once a minute. It ends nothing: the holder, refused,
// opens no session here for its heartbeat timeout (its heartbeat, watch
// and queries wait after a refusal), so a copy made would have let every
// copy after it go there for minutes where none could be discarded (the
// reread of the retry: up to five copies a minute); only a session of it
// let in here ends the refusal (ShadowSessionLetIn).
func (r *ReceiptShadow) copyMadeOn(server, stated string) {
	name := stated
	if name == "" {
		name = server
	}
	if _, ok := r.sessionRefusals.Load(r.refusalKey(server, stated)); !ok {
		return
	}
	r.d.log.Info("copy on receipt made on a shadow server whose sessions this server refuses (its try once a minute): the refusal stands until one of its sessions is let in here",
		"shadow_server", server, "session_name", name)
}

// RefusedHolder is a shadow server whose sessions are refused here
// (RefusedHolders).
type RefusedHolder struct {
	Server             string // the name its sessions state
	Since, LastRefused time.Time
	Why                string
}

// RefusedHolders lists the servers whose shadow sessions are refused here
// since the last one let in, for the shadow views (shadow list): since
// when, the last refusal, when each is tried again for a copy and what
// ends it.
func (r *ReceiptShadow) RefusedHolders() []RefusedHolder {
	var out []RefusedHolder
	r.sessionRefusals.Range(func(k, v any) bool {
		f := v.(*sessionRefusal)
		if r.removedFromTopology(k.(string)) {
			return true // dropped by pruneRemoved: never shown refused
		}
		name := r.topologyName(k.(string))
		cause := "its address, certificate, account or right, or the connector offers no shadow verbs: see the INFO \"shadow session refused\""
		if c := f.cause.Load(); c != nil {
			cause = *c // what the refusal said (verbs40 F2)
		}
		out = append(out, RefusedHolder{Server: name, Since: f.since, LastRefused: time.Unix(0, f.refused.Load()),
			Why: fmt.Sprintf("its shadow sessions here are refused (%s) since %s: the shadow copies this server makes (on receipt, through a receive connector with shadow_on_receipt, or made again) go to other servers; when one is to be made, one copy a minute is made there all the same, the next at %s: a session of it let in here ends this",
				cause, f.since.UTC().Format(time.RFC3339), f.retryAt().UTC().Format(time.RFC3339))})
		return true
	})
	return out
}

// topologyName is the topology's spelling of a name kept folded
// (mailaddr.NameKey), itself when the topology does not know it.
func (r *ReceiptShadow) topologyName(key string) string {
	if st := r.d.st.Load(); st != nil && st.cfg.Topology != nil {
		if s, ok := st.cfg.Topology.Server(key); ok {
			return s.Name
		}
	}
	return key
}

// removedFromTopology: this server has a topology and it lists no
// server of key (a mailaddr.NameKey): the server was removed from it
// (or never was one). Without a topology nothing is removed.
func (r *ReceiptShadow) removedFromTopology(key string) bool {
	st := r.d.st.Load()
	if st == nil || st.cfg.Topology == nil {
		return false
	}
	_, ok := st.cfg.Topology.Server(key)
	return !ok
}

// pruneRemoved drops the refusals of the sessions of servers the
// topology in force no longer lists, in memory and in the transport
// database (shadow30 item 1): a refusal outlives nothing but its
// server's place in the topology — no copy goes to a server the
// topology does not list, and its record would otherwise be read at
// every start and shown by shadow list for good. Called at the start
// (WithHolders) and after every reload in force (Deliverer.ReloadCommitted); a server
// still listed keeps its refusal. Each drop is logged.
func (r *ReceiptShadow) pruneRemoved() {
	r.sessionRefusals.Range(func(k, v any) bool {
		key := k.(string)
		if !r.removedFromTopology(key) {
			return true
		}
		r.refusedMu.Lock()
		if _, ok := r.sessionRefusals.LoadAndDelete(key); ok {
			r.noteRefusedHere(key, false)
			r.d.log.Info("refusal of a shadow server's sessions dropped: the server is no longer in the topology",
				"session_name", key, "refused_since", v.(*sessionRefusal).since.UTC().Format(time.RFC3339))
		}
		r.refusedMu.Unlock()
		return true
	})
}

// refusalKey is the one key of the refusal of the sessions of the holder
// dialled as server (the topology's name) stating stated in its XSHADOW
// reply ("" when not known here: a server below 20, or no session to it
// yet): the name its sessions state, as the receive side keeps the
// refusal (ShadowSessionRefused), folded (mailaddr.NameKey). A known
// stated name is remembered for server (statedAs), so that the tries'
// order (refusedLate), read before any session, reads the refusal under
// the same name as its try once a minute (refusedSinceLetIn): a holder
// whose dialled and stated names differ was otherwise never put last,
// and tried in its normal place at every copy (shadow30 item 2). The
// link survives a restart: the transport database keeps the name a
// holder stated with its id (queue ShadowHoldersStated, the same
// session's holderSeen writes it), read at the start (WithHolders);
// kept in memory only, a holder refused under its stated name was,
// after a restart of this server, not listed for the discards owed to
// it (Holders.Stale) until a copy or a probe met it again, and took
// its copies over at their expiry (shadow31 S1).
func (r *ReceiptShadow) refusalKey(server, stated string) string {
	sk := mailaddr.NameKey(server)
	if stated != "" {
		k := mailaddr.NameKey(stated)
		if k == sk {
			r.statedAs.Delete(sk)
		} else {
			r.statedAs.Store(sk, k)
		}
		return k
	}
	if v, ok := r.statedAs.Load(sk); ok {
		return v.(string)
	}
	return sk
}
