package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// HolderRecorder records the transport database id of a server that
// keeps shadow copies of this server's messages, as a session this
// server opened to it met it (queue.Manager.ShadowHolderSeen): another
// id than the one recorded means the server lost its database and the
// copies it kept for this server (rt23 NEW-4).
type HolderRecorder interface {
	ShadowHolderSeen(server, dbID string) (lost int, old string, err error)
	// ShadowHolderMark is this server's rollback mark for server,
	// presented when a session to it opens (queue marks.go).
	ShadowHolderMark(server string) uint64
	// ShadowHolderByDigest is the server whose recorded database id has
	// the digest a peer advertised (XSHADOWDB), or "": the name its
	// mark is kept under when a relay reaches it by a host name.
	ShadowHolderByDigest(digest string) string
}

// presentMark makes the next Shadow of c, a session to the shadow server
// name, present this server's rollback mark for it (version 7): the
// counter of the database the peer advertised (XSHADOWDB) when its id is
// recorded here, under whatever name (rt20c-F1: a topology that spells
// the server anew dials it by a name whose counter is not that
// database's, and a lower mark reads as a rollback there); the counter
// of the database recorded for name otherwise (queue marks.go).
func (r *ReceiptShadow) presentMark(c *smtp.Client, name string) {
	if r.holders != nil && r.dbID != "" {
		if f, ok := r.holders.(interface {
			ShadowHolderMarkFor(name, digest string) uint64
		}); ok { // one read transaction, the name's own id first
			c.PresentMark(f.ShadowHolderMarkFor(name, c.PeerDatabaseDigest()), r.dbID)
			return
		}
		if known := r.holders.ShadowHolderByDigest(c.PeerDatabaseDigest()); known != "" {
			name = known
		}
		c.PresentMark(r.holders.ShadowHolderMark(name), r.dbID)
	}
}

// presentMarkByDigest is presentMark for a peer this server names by a
// host name (a send connector's host, send_xshadow): when the database
// digest it advertised is that of a server whose mark this server keeps,
// that server's mark is presented; otherwise this server's database id
// alone (version 10; a peer below it is asked for its mark only), since
// a mark presented under a name it was never counted for could read as
// a rollback there — and the primary still records, before the
// relayed message's commit, the database the relay's copy is kept in.
func (r *ReceiptShadow) presentMarkByDigest(c *smtp.Client) {
	if r.holders == nil || r.dbID == "" {
		return
	}
	if name := r.holders.ShadowHolderByDigest(c.PeerDatabaseDigest()); name != "" {
		r.presentMark(c, name)
	} else {
		c.PresentDatabase(r.dbID)
	}
}

// WithHolders makes r record the database id of every shadow server its
// sessions meet (their XSHADOW reply) in rec, before a copy's commit
// names the server. The shadow sessions of the deliverer's relays then
// present this server's mark and database id too: the primary a relay
// goes to learns from them, before the relayed message's commit, the
// database the relay's shadow copy is kept in (smtp session.holderSeen).
//
// When rec is also the RecopyStore (queue.Manager), a copy on receipt
// the chosen server refused after the commit is made on the next
// candidate within the same receipt (RecopyRefused).
func (r *ReceiptShadow) WithHolders(rec HolderRecorder) *ReceiptShadow {
	r.holders = rec
	r.store, _ = rec.(RecopyStore)
	if rs, ok := rec.(RefusedHereStore); ok {
		// The refusals recorded before this start (queue refusedhere.go):
		// no copy on such a server until one of its sessions is let in.
		r.refusedStore = rs
		names, err := rs.SessionsRefusedHere()
		if err != nil {
			r.d.log.Error("reading the shadow servers whose sessions are refused here failed", "err", err)
		}
		now := r.clock()
		for n, since := range names {
			f := newSessionRefusal(now) // tried for a copy a minute after the start, as after a refusal
			if !since.IsZero() && since.Before(now) {
				f.since = since // the operator is told when the refusal began, not the restart
			}
			r.sessionRefusals.LoadOrStore(n, f)
		}
		// A server the topology no longer lists: its record goes
		// (pruneRemoved), not read at every start and shown for good.
		r.pruneRemoved()
	}
	if sh, ok := rec.(StatedHolders); ok {
		// The names holders stated (XSHADOW NAME) when their ids were
		// recorded: the link from a holder's dialled name to the one
		// its sessions' refusal is kept under (refusalKey), from the
		// start, not from its next copy or probe (shadow31 S1).
		stated, err := sh.ShadowHoldersStated()
		if err != nil {
			r.d.log.Error("reading the names shadow servers stated failed", "err", err)
		}
		for server, name := range stated {
			if sk, k := mailaddr.NameKey(server), mailaddr.NameKey(name); sk != k {
				r.statedAs.LoadOrStore(sk, k) // a session met since the start knows better
			}
		}
	}
	r.d.presenter.Store(r)
	return r
}

// StatedHolders is a HolderRecorder that keeps the name each holder
// stated when its id was recorded (queue holders.go, bucket
// holderstated), read at the start (WithHolders).
type StatedHolders interface {
	ShadowHoldersStated() (map[string]string, error)
}

// holderSeen records the id a session to server met; a failure to record
// is logged (the next session records it), an id kept as another
// server's at WARN once per (name, kind, id) until an id of that server
// is recorded again (queue ShadowHolderSeen refuses it; the refusal
// after that is WARNed anew). The kind is the judgement below (not
// recorded, a copied data dir, two hosts stating one name): a server
// first met below 20, then stating a name of its own, is WARNed for
// each.
//
// stated is the name the server stated as its own in its XSHADOW reply
// (shadow verbs 20; "" from an older server). It reports another: the id
// is kept here as another server's (not recorded); and copied, why no
// copy on receipt is made on it ("": one is), when the id is kept here
// as another server's and either stated is not that server's name — a
// second server running a copy of its data dir, whose sessions are
// refused here — or stated is that server's name, and this server's
// topology lists that server at another address than server, the one
// dialled: a second host running a copy of its data dir and of its
// configuration, whose sessions here pass as that server's, so copies
// filed under server could be discarded or taken over by either (dial).
// The id stated under the name it is kept as, by a server that name is
// not a topology server at another address of (a typo or a rename in the
// topology), is that server reached under a second name: not copied.
// The judgement is kept per name (judgedCopied, marked): such a server
// is tried last for copies on receipt until it is judged otherwise.
func (r *ReceiptShadow) holderSeen(server, stated, dbID string) (another bool, copied string) {
	if r.holders == nil || dbID == "" {
		return false, ""
	}
	var lost int
	var old string
	var err error
	if sh, ok := r.holders.(interface {
		ShadowHolderSeenStated(server, stated, dbID string) (int, string, error)
	}); ok {
		// The name it states decides, with the topology, whose id it
		// is (an id recorded under a typo since fixed moves to it).
		lost, old, err = sh.ShadowHolderSeenStated(server, stated, dbID)
	} else {
		lost, old, err = r.holders.ShadowHolderSeen(server, dbID)
	}
	var other interface{ AnotherServersDatabase() bool }
	switch {
	case errors.As(err, &other):
		// Another server's database id here (a retired one too): not
		// recorded, nothing marked lost (rt18d-F1). Logged once per
		// (name, kind, id) until that name's id is recorded again: a
		// server met under a second name is refused in every session,
		// one per accepted message.
		owner := ""
		var o interface{ OtherServer() string }
		if errors.As(err, &o) {
			owner = o.OtherServer()
		}
		kind := "other"
		twinAddr := ""
		switch {
		case copiedDatabase(stated, owner):
			kind = "copied"
			copied = fmt.Sprintf("%s presents transport database id %s, kept here as %s's, under its own name %s (a copy of that server's data dir: its sessions are refused here, so a copy there could never be discarded)",
				server, dbID, owner, stated)
		case stated != "":
			if twinAddr = r.twinHost(server, owner); twinAddr != "" {
				kind = "twin"
				copied = fmt.Sprintf("%s presents transport database id %s, kept here as %s's, and states the name %s, a server of the topology at %s: two hosts state that name (a copy of its data dir and configuration: a copy there could be discarded or taken over by either)",
					server, dbID, owner, stated, twinAddr)
			}
		}
		r.judge(server, copied != "")
		if _, seen := r.refusedIDs.LoadOrStore(strings.ToLower(server)+"\x00"+kind+"\x00"+dbID, struct{}{}); seen {
			return true, copied
		}
		r.refusedN.Add(1)
		switch kind {
		case "copied":
			r.d.log.Warn("no copy on receipt on a shadow server presenting another server's transport database id under its own name (a copy of that server's data dir?): give it a data dir of its own",
				"shadow_server", server, "stated_name", stated, "database_id", dbID, "known_as", owner, "err", err)
		case "twin":
			r.d.log.Warn("no copy on receipt on a shadow server stating the name of another server of the topology at another address: two hosts state that name (a copy of that server's data dir and configuration?): give it a data dir and server.name of its own",
				"shadow_server", server, "stated_name", stated, "database_id", dbID, "known_as", owner, "known_address", twinAddr, "err", err)
		default:
			r.d.log.Warn("shadow server's transport database id not recorded: it is another server's",
				"shadow_server", server, "stated_name", stated, "database_id", dbID, "err", err)
		}
		return true, copied
	case err != nil:
		r.d.log.Error("recording the shadow server's transport database failed", "shadow_server", server, "err", err)
		return false, ""
	}
	r.forgetRefusedIDs(server)
	r.judge(server, false)
	switch {
	case lost > 0:
		r.d.log.Warn("shadow server returned with a new transport database: its copies of messages held here are lost and made again",
			"shadow_server", server, "database_id", dbID, "was", old, "messages", lost)
	case old != "":
		r.d.log.Info("shadow server returned with a new transport database; it held no copy of a message still here",
			"shadow_server", server, "database_id", dbID, "was", old)
	}
	return false, ""
}

// copiedDatabase: a server that stated the name stated as its own
// (shadow verbs 20) presented a database id kept here as owner's, and is
// not owner — a copy of owner's data dir. A server that stated no name
// (below 20), or an owner not known, is not judged so.
func copiedDatabase(stated, owner string) bool {
	return stated != "" && owner != "" && mailaddr.NameKey(stated) != mailaddr.NameKey(owner)
}

// twinHost is the topology address of owner when this server's topology
// lists owner as a server other than server (the one dialled, which
// stated owner's name and presented its id) at another address: two
// hosts state owner's name (rr25 F1: a host cloned with its
// configuration, added to the topology under a name of its own). ""
// when owner is no server of the topology (a rename: server is owner
// under its new name), is server, or is listed at server's address (a
// typo listed beside the right name): server is owner met under a
// second name. The addresses are compared as the topology resolved them
// at load (routing.Topology.SameHost): a host listed once by name and
// once by IP address is one host (shadow26 item 2).
func (r *ReceiptShadow) twinHost(server, owner string) string {
	st := r.d.st.Load()
	if st == nil || st.cfg.Topology == nil || owner == "" {
		return ""
	}
	o, ok := st.cfg.Topology.Server(owner)
	if !ok {
		return ""
	}
	d, ok := st.cfg.Topology.Server(server)
	if !ok || d == o || st.cfg.Topology.SameHost(d.Name, o.Name) {
		return ""
	}
	return o.Address
}

// sessionsRefusedHere says why no copy on receipt is made on server,
// dialled under that name, which stated the name stated as its own in
// its XSHADOW reply (shadow verbs 20), or "" when one may be: its
// sessions here — its discard queries, its heartbeats, its watch — open
// their shadow session under its own server id, the name it states,
// and are let in only when this server's topology gives that name a
// transport server (package smtp: a server account, a certificate or an
// address of a server of the organisation). A name the topology does
// not know (a typo or a rename of server in this server's topology,
// from the first contact or since) or gives a server that is not a
// transport server is refused there, so a copy made on it could never
// be discarded, and it would take the copy over when this server fails
// after delivering the original: a duplicate (rt28a F3). A server below
// 20 states no name and is not judged so; without a topology every
// server's sessions are let in.
func (r *ReceiptShadow) sessionsRefusedHere(server, stated string) string {
	if why := r.stateNameRefused(server, stated); why != "" {
		return why
	}
	return r.refusedSinceLetIn(server, stated)
}

// refusedSinceLetIn: the shadow sessions the holder opened here under
// the name it states (server's, when it states none) were refused by
// this server's receive side since the last one let in (package smtp
// SessionNoter: its address is not one the topology gives it, its
// certificate or account does not match, any refusal) — what this
// server saw of its sessions, not what its name promises. No copy there,
// tried last (refusedLate) — but not for good: once a minute
// (receiptProbe, from the refusal or the last such try) one copy goes
// to it in its place (sessionRefusal.due); only one of its sessions let
// in here ends the refusal (refusedretry.go). WARN once per refusal
// state. The state is kept in the transport
// database (RefusedHereStore, queue refusedhere.go): a restart starts
// from what was refused before it — each such server tried for a copy a
// minute after the start —, not from none.
func (r *ReceiptShadow) refusedSinceLetIn(server, stated string) string {
	name := stated
	if name == "" {
		name = server
	}
	key := r.refusalKey(server, stated)
	v, ok := r.sessionRefusals.Load(key)
	if !ok {
		return ""
	}
	f := v.(*sessionRefusal)
	now := r.clock()
	if f.due(now) {
		r.d.log.Info("shadow server whose sessions this server refuses tried again for a copy on receipt (once a minute): the copy ends nothing, only a session of it let in here ends the refusal",
			"shadow_server", server, "session_name", name, "refused_since", f.since.UTC().Format(time.RFC3339))
		return ""
	}
	if f.warned.CompareAndSwap(false, true) && r.refusalWarnDue(key, now) {
		r.d.log.Warn("no copy on receipt on a shadow server whose sessions this server refuses: its shadow sessions here (discard queries, heartbeats) are refused, so a copy there could never be discarded; check the topology's address and source_addresses for it, its certificate or its server account; tried again for a copy once a minute (that copy ends nothing); only a session of it let in here ends this",
			r.refusalWarnArgs(f, "shadow_server", server, "session_name", name, "retry_at", f.retryAt().UTC().Format(time.RFC3339))...)
	}
	return fmt.Sprintf("the shadow sessions of %s (as %s) are refused here since %s (none let in since), so a copy there could never be discarded; one copy a minute is made there all the same, the next at %s: a session of it let in here ends this",
		server, name, f.since.UTC().Format(time.RFC3339), f.retryAt().UTC().Format(time.RFC3339))
}

// refusalWarnArgs is args with the cause of f's last refused session
// when it was told one (verbs40 F2): the WARN's advice (address,
// certificate, account) is not that cause.
func (r *ReceiptShadow) refusalWarnArgs(f *sessionRefusal, args ...any) []any {
	if c := f.cause.Load(); c != nil {
		args = append(args, "refused_because", *c)
	}
	return args
}

// ShadowSessionRefused implements smtp.SessionNoter: a shadow session
// under serverID was refused here. A refusal standing already keeps its
// time of the next try (a server refused at every heartbeat is still
// tried once a minute).
func (r *ReceiptShadow) ShadowSessionRefused(serverID string) {
	r.sessionRefused(serverID, nil)
}

// ShadowSessionRefusedBecause implements smtp.RefusalCauseNoter: a
// shadow session under serverID was refused here for cause (it
// presented another server's database id), which shadow list shows
// until a refusal of another cause or a session let in (verbs40 F2). Not
// kept across a restart: a refusal read back at the start is shown with
// the general causes.
func (r *ReceiptShadow) ShadowSessionRefusedBecause(serverID, cause string) {
	r.sessionRefused(serverID, &cause)
}

// The session side tells the cause it knows (package smtp noteShadowSession).
var _ smtp.RefusalCauseNoter = (*ReceiptShadow)(nil)

// sessionRefused notes a refused session of serverID, with its cause or
// none (nil).
func (r *ReceiptShadow) sessionRefused(serverID string, cause *string) {
	now := r.clock()
	k := mailaddr.NameKey(serverID)
	if v, had := r.sessionRefusals.Load(k); had {
		v.(*sessionRefusal).refusedAgain(now)
		v.(*sessionRefusal).cause.Store(cause)
		return
	}
	// A new refusal: the record in memory and the stored one change
	// together (refusedMu), so a let-in racing it leaves both alike.
	r.refusedMu.Lock()
	defer r.refusedMu.Unlock()
	f := newSessionRefusal(now)
	f.cause.Store(cause)
	if v, had := r.sessionRefusals.LoadOrStore(k, f); had {
		v.(*sessionRefusal).refusedAgain(now)
		v.(*sessionRefusal).cause.Store(cause)
		return
	}
	r.noteRefusedHere(serverID, true)
}

// RefusedHereStore keeps whose shadow sessions are refused here across
// restarts (queue refusedhere.go): what ShadowSessionRefused and
// ShadowSessionLetIn learn, read again at the start (WithHolders).
type RefusedHereStore interface {
	SessionsRefusedHere() (map[string]time.Time, error)
	NoteSessionsRefusedHere(name string, refused bool) error
}

// noteRefusedHere records a change of the refusal state of serverID's
// sessions, when there is a store, with refusedMu held (the record in
// memory changed under it); a failure is logged: the stored record stays
// as it was until the server's next change of state is written (a
// restart meanwhile starts from the stale one — a refusal tried again a
// minute after the start, or a refusal forgotten until the next refused
// session).
func (r *ReceiptShadow) noteRefusedHere(serverID string, refused bool) {
	if r.refusedStore == nil {
		return
	}
	if err := r.refusedStore.NoteSessionsRefusedHere(serverID, refused); err != nil {
		r.d.log.Error("recording whether a shadow server's sessions are refused here failed", "session_name", serverID, "refused", refused, "err", err)
	}
}

// ShadowSessionLetIn implements smtp.SessionNoter: a shadow session
// under serverID was let in here; its refusals are forgotten.
func (r *ReceiptShadow) ShadowSessionLetIn(serverID string) {
	k := mailaddr.NameKey(serverID)
	r.sessionsLetIn.Store(k, r.clock().UnixNano())
	if _, ok := r.sessionRefusals.Load(k); !ok {
		return // the common case: nothing refused, nothing to write
	}
	r.refusedMu.Lock()
	defer r.refusedMu.Unlock()
	if _, ok := r.sessionRefusals.LoadAndDelete(k); ok {
		r.noteRefusedHere(serverID, false)
		r.d.log.Info("a shadow server's sessions are let in here again: copies on receipt may go to it", "session_name", serverID)
	}
}

// stateNameRefused is sessionsRefusedHere's judgement of the name the
// holder states by this server's topology.
func (r *ReceiptShadow) stateNameRefused(server, stated string) string {
	st := r.d.st.Load()
	// Its own prefix: holderSeen forgets the server's id refusals at
	// every id it records, which a typo from the first contact is.
	prefix := "sessions\x00" + mailaddr.NameKey(server) + "\x00"
	if stated == "" || st == nil || st.cfg.Topology == nil || mailaddr.NameKey(stated) == mailaddr.NameKey(server) ||
		st.cfg.Topology.Transport(stated) {
		if r.refusedN.Load() > 0 {
			r.refusedIDs.Range(func(k, _ any) bool {
				if strings.HasPrefix(k.(string), prefix) {
					if _, ok := r.refusedIDs.LoadAndDelete(k); ok {
						r.refusedN.Add(-1)
					}
				}
				return true
			})
		}
		return ""
	}
	r.judge(server, true) // tried last until it states a name let in
	why := fmt.Sprintf("%s states the name %s as its own, which is no transport server of this server's topology: its sessions here are refused, so a copy there could never be discarded (a typo or a rename of %s in the topology?)",
		server, stated, server)
	if _, seen := r.refusedIDs.LoadOrStore(prefix+mailaddr.NameKey(stated), struct{}{}); !seen {
		r.refusedN.Add(1)
		r.d.log.Warn("no copy on receipt on a shadow server whose sessions this server refuses: the name it states is no transport server of the topology; correct the topology's name for it",
			"shadow_server", server, "stated_name", stated)
	}
	return why
}

// judge keeps whether server was last judged a copied data dir
// (holderSeen): such a server is tried last for copies on receipt
// (marked), by this judgement of the receipt path's own — not by the
// relays' refused:NAME mark, which a server met under a second name
// keeps (its relays are refused by design) though it gets its copy.
func (r *ReceiptShadow) judge(server string, copied bool) {
	k := mailaddr.NameKey(server)
	if !copied {
		r.judgedCopied.Delete(k)
		return
	}
	if _, ok := r.judgedCopied.Load(k); !ok {
		m := &copiedMark{}
		m.last.Store(time.Now().UnixNano())
		r.judgedCopied.LoadOrStore(k, m)
	}
}

// copiedMark is a server judged a copied data dir: when a copy on
// receipt last tried it in its normal place (its judgement or a probe).
type copiedMark struct{ last atomic.Int64 }

// judgedLate: server was judged a copied data dir and is not due its
// probe (receiptProbe after its last one): it is tried after every
// candidate not so judged. A due one is tried in its normal place once
// (the probe taken), so a server given a data dir of its own is found.
func (r *ReceiptShadow) judgedLate(now time.Time, server string) bool {
	v, ok := r.judgedCopied.Load(mailaddr.NameKey(server))
	if !ok {
		return false
	}
	m := v.(*copiedMark)
	last := m.last.Load()
	if now.Sub(time.Unix(0, last)) < receiptProbe {
		return true
	}
	return !m.last.CompareAndSwap(last, now.UnixNano())
}

// forgetRefusedIDs forgets the refusals logged for server (refusedIDs):
// an id of its own was recorded, so a refusal after it is a new episode.
func (r *ReceiptShadow) forgetRefusedIDs(server string) {
	if r.refusedN.Load() == 0 {
		return // nothing refused: every session's record costs no walk
	}
	prefix := strings.ToLower(server) + "\x00" // then the kind and the id
	r.refusedIDs.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), prefix) {
			if _, ok := r.refusedIDs.LoadAndDelete(k); ok {
				r.refusedN.Add(-1)
			}
		}
		return true
	})
}

// ErrUnknownServer: a shadow server the topology does not name (one that
// relayed a message here under a name of its own) cannot be probed. It
// has the NotProbeable method by which shadow.Holders knows such a probe
// error (shadow.NotProbeable; this package does not import shadow).
var ErrUnknownServer error = unknownServerError{}

type unknownServerError struct{}

func (unknownServerError) Error() string { return "not a server of the topology" }
func (unknownServerError) NotProbeable() {}

// ErrQuestionsUnfinished: a probe met the server and read its database
// id, but its questions (what it dropped, what it finished of the copies
// it took over) did not all finish — one failed or was cut by the
// caller's bound, a batch could not be recorded, a noted message was in
// delivery, or the server had more than one probe asks. The server tells
// the rest at the next probe: the probe does not stand for the next
// pass's (shadow.Holders.AskFirst).
var ErrQuestionsUnfinished = errors.New("the shadow server's questions did not all finish")

// Probe opens a shadow session to the transport server name (logged in
// as heartbeats to it are, loginVia), reads its transport database id
// from the XSHADOW reply and ends the session. The id is recorded
// (WithHolders) and destination health learns the server answers (or
// does not): a quiet pair's server:NAME rows follow the server's real
// state (rt23 NEW-3) — but a probe this server could not open for a
// fault of its own (sourceFault, a LocalFault) marks nothing. A probe
// whose questions did not all finish returns the id with
// ErrQuestionsUnfinished: the holder is not asked.
func (r *ReceiptShadow) Probe(ctx context.Context, name string) (_ string, err error) {
	// On a goroutine of the holders' (shadow.Holders): a panic here is
	// umbra's defect, this server's fault, not the holder's (panics.go).
	defer r.d.recoverErr(PanicShadow, &err, "shadow_server", name)
	mayPanic(PanicShadow)
	st := r.d.st.Load()
	if st.cfg.Topology == nil || st.cfg.ShadowServerID == "" {
		return "", fmt.Errorf("%s: %w (no topology)", name, ErrUnknownServer)
	}
	s, ok := st.cfg.Topology.Server(name)
	if !ok {
		return "", fmt.Errorf("%s: %w", name, ErrUnknownServer)
	}
	caller := ctx
	ctx, cancel := boundedTry(ctx, receiptTry) // its bound told from the caller's end (peerSilent)
	defer cancel()
	c, err := r.d.dialPrimary(ctx, st, s.Name, s.Address)
	peerDigest := "" // the database digest its EHLO advertised, for a refused XSHADOW
	if err == nil {
		peerDigest = c.PeerDatabaseDigest()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		r.presentMark(c, s.Name)
		var db string
		if db, err = c.Shadow(st.cfg.ShadowServerID); err == nil {
			goOn, dropped := r.askDropped(c, s.Name)
			taken := false
			if goOn {
				goOn, taken = r.askTakenDone(c, s.Name)
			}
			if goOn {
				// After what it finished is recorded: a copy finished
				// there is no record here to ask about.
				r.askKept(c, s.Name)
			}
			if goOn {
				// The server forgets the copies told once it reads the
				// QUIT: they are recorded here already, so a QUIT it
				// never answers (read or not: unknown) loses nothing —
				// it tells them again at worst.
				quit(ctx, c)
			} else {
				c.Close() // no command after them: the server tells them again
			}
			stop()
			r.refusalKey(s.Name, c.ShadowName) // the name its sessions state, learnt again after a restart
			r.probeAnswered.Store(strings.ToLower(s.Name), true)
			r.d.health.Responsive(s.Name, s.Address)
			r.probeLetIn(s.Name)
			if _, copied := r.holderSeen(s.Name, c.ShadowName, db); copied == "" {
				// holderSeen forgets the mark of a server judged
				// tried last; one that states a name refused here
				// keeps it (the receipt path's judgement). One whose
				// sessions are refused here is tried last by its
				// refusal (refusedLate); a probe is no copy, and takes
				// nothing of its try once a minute.
				r.stateNameRefused(s.Name, c.ShadowName)
			}
			if !dropped || !taken {
				return db, fmt.Errorf("%s: %w", s.Name, ErrQuestionsUnfinished)
			}
			return db, nil
		}
		stop()
		c.Close()
	}
	if localFault(err) {
		// This server's own fault ended it before any connection (a
		// source address it cannot bind: sourceFault): nothing was
		// learnt of the holder — not marked in destination health,
		// its last probe's answer kept (unreachedHolder), as a push of
		// a copy on receipt that failed so marks nothing (dialFailed).
		// The holders' round notes no unreached holder for it
		// (shadow.LocalFault).
		return "", err
	}
	r.probeAnswered.Store(strings.ToLower(s.Name), false) // cut by the caller too: no answer (unreachedHolder)
	var ref *refusedError
	if errors.As(refusal(err), &ref) {
		// It answers, but refuses this server's shadow session: its
		// mark (if a refused copy made one) stays, so copies keep going
		// to the other candidates first. A refusal of XSHADOW carries
		// the digest the session's EHLO advertised, as a refused
		// heartbeat's does (refusalIn): it says whose database answered.
		if ref.digest == "" {
			ref.digest = peerDigest
		}
		r.probeRefused(st, s, ref)
		return "", &probeRefusedError{name: s.Name, ref: ref}
	}
	if errors.Is(err, smtp.ErrNoShadow) {
		// It answers, but offers no XSHADOW to this server: the peer's
		// topology may not list this server (a reload mid-rollout,
		// with nothing of this server held there: departed42), or the
		// topology's address for it is a connector of it without the
		// shadow verbs for transport servers (its internet connector:
		// rt27a F4) — its peers' heartbeats there
		// fail and they take its copies over while it runs. As loud
		// as a refusal, once per state; still a failed session for
		// destination health, below.
		key := strings.ToLower(s.Name)
		if prev, ok := r.probeRefusals.Swap(key, err.Error()); !ok || prev != err.Error() {
			r.d.log.Warn("shadow server's probe failed: peer does not offer XSHADOW to this server (the peer may not list this server in its topology, or the topology's address for it is a connector without the shadow verbs): copies of messages held here stay there, unconfirmed",
				"shadow_server", s.Name, "addr", s.Address)
		}
	}
	if caller.Err() == nil {
		// The session failed, or ran out the probe's own bound. Not
		// the caller's end (a shutdown, or the start's bound on asking
		// every holder, AskFirst): a holder slower than that answers
		// all the same, and is not to be passed over for it.
		r.d.health.Unresponsive(time.Now(), "shadow server probe: "+err.Error(), s.Name, s.Address)
		// Silent past a timeout of its own (connect, command_timeout
		// at XSHADOW, the bound): a hang, marked as a push's is
		// (rcpt47 item 4).
		r.noteSilent(ctx, s.Name, err)
	}
	return "", err
}

// probeRefusedError is a probe the holder answered with a refusal: a
// shadow.Refusal, so that the holders' round says it refused (and why)
// instead of counting it among the holders not reachable (rt39 F3).
type probeRefusedError struct {
	name string
	ref  *refusedError
	// holds: the digest it presented is that of the transport database
	// recorded for it (queue ShadowHolderID), the one its copies were
	// made on (Holders.Probe sets it).
	holds bool
}

func (e *probeRefusedError) Error() string {
	return e.name + " refused the shadow session: " + e.ref.Refusal()
}
func (e *probeRefusedError) Refusal() string { return e.ref.Refusal() }
func (e *probeRefusedError) Unwrap() error   { return e.ref }

// HoldsItsCopies implements shadow.HoldingRefusal: the holder answered
// with the database its copies were made on before it refused, so it is
// up with them, and they are not taken as lost at the takeover bound —
// it takes them over if this server dies, so its discards stay owed to
// it, fetched by its own queries here (holders49 item 1). Nothing hands
// them over while its sessions are refused here too: pushToRefused
// follows a probe let in, and the hand-over's XSHADOW is refused as the
// probe's was — until one side lets the other in, the refusal WARNs on
// both sides say so.
func (e *probeRefusedError) HoldsItsCopies() bool { return e.holds }

// probeRefused reports a holder that refused this server's probe
// (rt21a L1: its topology does not know this server, or knows its
// database under another name): the copies of messages held here stay
// on it unconfirmed, and nothing else tells the operator. It is
// recorded as a session of kind "probe" (counted; judged by the digest
// as the receipt's is) and logged at WARN with the holder's reply once
// per state change — the first refusal, or one with another reply —
// not at each probe (every holders' interval).
func (r *ReceiptShadow) probeRefused(st *state, s *routing.Server, ref *refusedError) {
	if rr, ok := st.cfg.Shadows.(RefusalRecorder); ok {
		rr.SessionRefused(s.Name, "probe", ref.Refusal(), ref.DatabaseDigest())
	}
	key := strings.ToLower(s.Name)
	if prev, ok := r.probeRefusals.Swap(key, ref.Refusal()); ok && prev == ref.Refusal() {
		return
	}
	r.d.log.Warn("shadow server refuses this server's probe: copies of messages held here stay there, unconfirmed",
		"shadow_server", s.Name, "addr", s.Address, "reply", ref.Refusal())
}

// probeLetIn ends the refused state probeRefused logged for server: its
// probe was let in.
func (r *ReceiptShadow) probeLetIn(server string) {
	if prev, ok := r.probeRefusals.LoadAndDelete(strings.ToLower(server)); ok {
		r.d.log.Info("shadow server lets this server's probe in again", "shadow_server", server, "refused", prev)
	}
}

// DroppedRecorder records the shadow copies a server's operator removed
// there (queue.Manager.ShadowCopiesDropped): the messages they were the
// copies of are marked held by this server only, and made again.
type DroppedRecorder interface {
	ShadowCopiesDropped(server string, ids []string) (int, error)
}

// Bounds of one probe's questions about dropped copies: a server that
// dropped more tells the rest at the next probe.
const (
	droppedBatch  = 500
	droppedRounds = 20
)

// askDropped asks server, in the probe session c (shadow verbs 12), which
// copies of this server's messages its operator removed, and records
// them before the next command, which tells the server it may forget
// them (SR-15). It reports whether the session may go on: false when a
// batch could not be recorded (the session must end without a command,
// so the server keeps the notes); and whether the questions finished
// (the server told all it had). With an older peer nothing is asked.
func (r *ReceiptShadow) askDropped(c *smtp.Client, server string) (goOn, finished bool) {
	rec, ok := r.holders.(DroppedRecorder)
	if !ok || c.ShadowVersion < 12 {
		return true, true
	}
	for range droppedRounds {
		ids, err := c.QueryDropped(droppedBatch)
		if err != nil {
			r.d.log.Info("asking the shadow server for the copies its administrator removed failed; asked again at the next probe",
				"shadow_server", server, "err", err)
			return true, false // nothing was told
		}
		if len(ids) == 0 {
			return true, true
		}
		if err := recordDropped(r.d.log, rec, server, ids); err != nil {
			return false, false
		}
		if len(ids) < droppedBatch {
			return true, true
		}
	}
	return true, false // more than droppedRounds batches: the rest at the next probe
}

// KeptRecorder lists the copy ids this server's pending records name a
// server the holder of, and records that server's answer to which of
// them it has no record of (queue.Manager: ShadowCopiesNamed,
// ShadowKeptAnswer; queue keptcopy.go).
type KeptRecorder interface {
	ShadowCopiesNamed(server string, after queue.ID, max int) ([]string, queue.ID, error)
	ShadowKeptAnswer(server string, asked, missing []string, apart time.Duration) ([]*queue.Message, error)
}

// Bounds of one probe's questions about kept copies: ids per question
// (XQUERYKEPT takes at most 100), questions per probe. A holder of more
// copies is asked about the rest at the next probes (keptFrom).
const (
	keptBatch  = 100
	keptRounds = 10
)

// askKept asks server, in the probe session c (shadow verbs 23), which
// of the copies this server's pending records name it the holder of it
// has no record of — its database file copied back from an older copy
// lost them — and records the answer (ShadowKeptAnswer): a copy missing
// from two answers at least keptApart apart marks its message held by
// this server only, and this pass makes the copy again. The holder
// writes nothing for the question, so a failure only leaves the rest to
// the next probe. With an older peer nothing is asked.
func (r *ReceiptShadow) askKept(c *smtp.Client, server string) {
	rec, ok := r.holders.(KeptRecorder)
	if !ok || c.ShadowVersion < smtp.KeptVersion {
		return
	}
	key := strings.ToLower(server)
	after := queue.ID(0)
	if v, ok := r.keptFrom.Load(key); ok {
		after = v.(queue.ID)
	}
	apart := r.keptApart()
	for range keptRounds {
		ids, next, err := rec.ShadowCopiesNamed(server, after, keptBatch)
		if err != nil {
			r.d.log.Error("listing the copies held on a shadow server failed; asked at the next probe", "shadow_server", server, "err", err)
			return
		}
		if len(ids) > 0 {
			missing, _, err := c.QueryKept(ids)
			if err != nil {
				r.d.log.Info("asking the shadow server which copies it keeps failed; asked again at the next probe",
					"shadow_server", server, "err", err)
				return
			}
			marked, err := rec.ShadowKeptAnswer(server, ids, missing, apart)
			if err != nil {
				r.d.log.Error("recording which copies the shadow server keeps failed; asked again at the next probe",
					"shadow_server", server, "err", err)
				return
			}
			if len(marked) > 0 {
				r.d.log.Warn("shadow server keeps no record of copies of messages held here (its database file was rolled back): they are made again",
					"shadow_server", server, "messages_marked", len(marked))
			}
		}
		after = next
		r.keptFrom.Store(key, after)
		if next == 0 {
			return // read to the end: the next probe starts again at the first
		}
	}
}

// keptApart is how far apart two answers that say a copy missing must
// be before its message is marked: the probe's interval (the shadow
// heartbeat timeout), and at least the bound of one copier's try, so
// that a copy on its way to the holder when the first answer was given
// has arrived or failed by the second.
func (r *ReceiptShadow) keptApart() time.Duration {
	return max(r.d.st.Load().cfg.ShadowHeartbeatTimeout, receiptTry)
}

// TakenDoneRecorder records what a server that kept copies of this
// server's messages finished of those it took over while this server
// was away (queue.Manager.ShadowFinishedElsewhere): those recipients are
// neither delivered nor reported again here.
type TakenDoneRecorder interface {
	ShadowFinishedElsewhere(server string, notes []queue.TakenDone) ([]queue.FinishedElsewhere, int, error)
}

// Bounds of one probe's questions about copies finished elsewhere: a
// server that has more tells the rest at the next probe.
const (
	takenDoneBatch  = 500
	takenDoneRounds = 20
)

// askTakenDone asks server, in the probe session c (shadow verbs 15),
// what it finished of the copies it took over from this server's
// database (the session presented it), and records it before the next
// command, which tells the server it may forget the notes (SR-15). It
// reports whether the session may go on: false when a batch could not
// be recorded (the session must end without a command, so the server
// keeps the notes); and whether the questions finished (every note
// told and applied: not while the notes of a message in delivery here
// wait in the queue, which applies them at a later probe). With an
// older peer nothing is asked.
func (r *ReceiptShadow) askTakenDone(c *smtp.Client, server string) (goOn, finished bool) {
	rec, ok := r.holders.(TakenDoneRecorder)
	// A database restored from a backup also asks about the copies
	// taken over from the database it was restored from (version 22,
	// queue takenover.go): those waiting there ("TAKEN") are the
	// holder's to deliver, and their originals here are done.
	from := ""
	if p, ok := r.holders.(Predecessor); ok {
		from = p.Predecessor()
	}
	r.askedFrom.Store(strings.ToLower(server), ok && from != "" && c.ShadowVersion >= smtp.TakenOverVersion)
	if !ok || c.ShadowVersion < 15 {
		return true, true
	}
	// The notes kept at an earlier probe for a message then in
	// delivery here first (the queue applies them with any batch; this
	// call is for a server that has nothing new to tell).
	_, waiting, err := rec.ShadowFinishedElsewhere(server, nil)
	if err != nil {
		r.d.log.Error("applying what the shadow server finished of the copies it took over, kept for messages in delivery, failed; tried again at the next probe",
			"shadow_server", server, "err", err)
		waiting = 1
	}
	// The copies in delivery there (version 21, "<id> BUSY"): their
	// originals are kept back until an answer lists them no more
	// (queue takenbusy.go); only a complete answer ends an entry.
	var inDeliveryThere []string
	busyDone := func(complete bool) bool {
		br, ok := r.holders.(BusyRecorder)
		if !ok || c.ShadowVersion < smtp.BusyVersion {
			return true
		}
		if _, _, err := br.ShadowCopiesBusy(server, inDeliveryThere, complete, r.busyHold()); err != nil {
			r.d.log.Error("recording which copies the shadow server has in delivery failed; asked again at the next probe",
				"shadow_server", server, "err", err)
			return false
		}
		return true
	}
	for range takenDoneRounds {
		all, err := c.QueryTakenDone(takenDoneBatch, from)
		if err != nil {
			r.d.log.Info("asking the shadow server what it finished of the copies it took over failed; asked again at the next probe",
				"shadow_server", server, "err", err)
			return true, false // nothing was told
		}
		var notes []queue.TakenDone
		for _, n := range all {
			if n.Kind == queue.TakenBusy {
				inDeliveryThere = append(inDeliveryThere, n.ID)
			} else {
				notes = append(notes, n)
			}
		}
		last := len(all) < takenDoneBatch
		if len(notes) == 0 {
			if !last {
				continue // a batch of copies in delivery there: the rest next
			}
			// The notes first, then the entries: an original released
			// before its notes were applied could be claimed between.
			if !busyDone(true) {
				return true, false
			}
			return true, waiting == 0
		}
		_, busy, err := rec.ShadowFinishedElsewhere(server, notes)
		if err != nil {
			r.d.log.Error("recording what the shadow server finished of the copies it took over failed; asked again at the next probe",
				"shadow_server", server, "err", err)
			return false, false
		}
		if busy > 0 {
			// A message a note names is in delivery here: the queue
			// kept its notes in the commit that recorded the batch
			// (queue takendonewait.go) and applies them at a later
			// probe, once the attempt has committed. The session goes
			// on: that message delays only its own notes.
			r.d.log.Info("a message the shadow server finished part of is in delivery here; applied at a later probe",
				"shadow_server", server, "messages", busy)
			waiting = busy
		}
		if last {
			if !busyDone(true) {
				return true, false
			}
			return true, waiting == 0
		}
	}
	busyDone(false)
	return true, false // more than takenDoneRounds batches: the rest at the next probe
}

// Predecessor is the part of the queue that knows the database id this
// server's database was restored from (queue.Manager.Predecessor; ""
// when it was not).
type Predecessor interface {
	Predecessor() string
}

// BusyRecorder keeps back the originals whose taken-over copies a
// server has in delivery (queue.Manager.ShadowCopiesBusy, shadow verbs
// 21), and releases them when a complete answer names them no more.
type BusyRecorder interface {
	ShadowCopiesBusy(server string, ids []string, complete bool, hold time.Duration) (kept, released []*queue.Message, err error)
}

// busyHold is how long an original stays kept back after an answer
// that its copy is in delivery on the holder, unless a later answer
// says more: the holder's attempt is bounded by its data timeout (the
// organisation's servers share it) and a few commands; a minute at
// least. Each answer that names the copy again renews it, and the next
// answer comes at the next probe, a shadow_heartbeat_timeout later (a
// pass slowed by hung holders later still): the hold covers two of them,
// or the original would be released unasked while the holder, reachable,
// still delivers its copy or has noted it delivered (rr35).
func (r *ReceiptShadow) busyHold() time.Duration {
	st := r.d.st.Load()
	return max(st.cfg.DataTimeout+2*st.cfg.CommandTimeout, 2*st.cfg.ShadowHeartbeatTimeout, time.Minute)
}

// recordDropped records what server told (askDropped) and logs, per
// kind, what happened there and how many messages were marked held by
// this server only: copies its administrator removed (named, counted)
// and, for queue.DroppedEvery, a copy it set aside as damaged that it
// cannot name (every message whose copy is there is marked). The named
// ones are recorded first: a message marked by them is counted there
// and not again under the damaged note. Marking is idempotent, so two
// commits are as safe as one: a failure of the second leaves the notes
// on the holder, told again at the next probe.
func recordDropped(log *slog.Logger, rec DroppedRecorder, server string, ids []string) error {
	var named []string
	damaged := false
	for _, id := range ids {
		if id == queue.DroppedEvery {
			damaged = true
		} else {
			named = append(named, id)
		}
	}
	if len(named) > 0 {
		n, err := rec.ShadowCopiesDropped(server, named)
		if err != nil {
			log.Error("recording the shadow copies a server's administrator removed failed; asked again at the next probe",
				"shadow_server", server, "err", err)
			return err
		}
		log.Warn("shadow server's administrator removed copies of messages held here: they are made again",
			"shadow_server", server, "copies_removed", len(named), "messages_marked", n)
	}
	if damaged {
		n, err := rec.ShadowCopiesDropped(server, []string{queue.DroppedEvery})
		if err != nil {
			log.Error("recording that a shadow server set aside a damaged copy failed; asked again at the next probe",
				"shadow_server", server, "err", err)
			return err
		}
		log.Warn("shadow server set aside as damaged a copy of a message held here, which one is unknown: every message whose copy is there is marked held by this server only and made again",
			"shadow_server", server, "messages_marked", n)
	}
	return nil
}

// RecopyStore is the queue's side of making a lost copy again
// (queue.Manager).
type RecopyStore interface {
	RecopyCandidate(id queue.ID) (*queue.Message, queue.Body, bool, error)
	ShadowRecopiedOrg(id queue.ID, orgID, to string) error
	// RecopyPushingNamed raises the rollback mark for the server a copy is
	// about to be pushed to (queue marks.go), before the push, withdraws
	// a discard of that copy it has not fetched yet, and keeps server as
	// one that may hold the copy: an unconfirmed push needs no commit of
	// its own (queue holders.go). A push the server answered takes it
	// out again when it held nothing before (keptNothingStore).
	// named is false when the message left or needs no copy any more
	// since RecopyCandidate read it: nothing would owe server the
	// copy's discard, and the copy is not pushed (rrrcpt44).
	RecopyPushingNamed(id queue.ID, server string) (mark uint64, named bool, err error)
	// RecopyRefused records that server refused the copy (its reply),
	// for the views.
	RecopyRefused(id queue.ID, server, reply string) error
}

// Recopy makes the shadow copy of message id again: pushed on receipt
// (XSHADOWCOPY, as SR-17 pushes it) to a server chosen as for a new
// message by the preference pref gives for the receive connector the
// message came in by (config.ShadowOnReceipt*; "" or off — a message
// relayed here in a shadow session, or pref nil — means prefer-remote), with
// the message's pending recipients, then recorded in q. It returns the
// server that keeps it; ("", nil) when the message needs no copy any
// more (delivered meanwhile), or when a receive session is making its
// copy on receipt (HoldRecopy): the session's answer stands, and a mark
// it leaves is the next pass's.
//
// A server that refuses the copy (its reply: 452 4.3.1 from a full disk)
// is a failed try, as for a copy on receipt: the next candidate of the
// preference is tried in the same call, up to the retry budgets, and
// the refusal is marked in destination health (receiptLink.Push), so
// that the next passes try the unmarked candidates first (rt30 F2).
func (r *ReceiptShadow) Recopy(ctx context.Context, q RecopyStore, id queue.ID, prefOf func(connector string) string) (string, error) {
	if r.receiptHeld(id) {
		return "", nil
	}
	var org string
	srv, err := r.recopy(ctx, q, id, prefOf, nil, &org)
	if srv != "" {
		// The servers that may hold the copy from an unconfirmed push
		// (this pass's, or an earlier one's, or the receipt's) are
		// handed their discard now, as the receipt does before its
		// 250 (rcpt43 item 1): left for them to fetch at their next
		// contact, a primary lost right after the pass left two
		// holders that both took the message over.
		r.handMayHoldDiscards(ctx, q, id, org, srv, "after the copy was made again")
	}
	return srv, err
}

// HoldRecopy implements smtp.ReceiptRecopyHolder: the receive session
// making message id's copy on receipt holds it from its push until it
// answered (release), through RecopyRefused. Meanwhile the made-again
// pass (Recopy) leaves the message alone, though the session marked it
// held by this server only: its push to the server the session gave up
// on (that server answering again, its probe passed) made a second
// copy there, and its record named that server the holder over the one
// whose 250 the session's reply named (rt20h-F1). The mark left after
// release is the next pass's.
func (r *ReceiptShadow) HoldRecopy(id queue.ID) (release func()) {
	r.mu.Lock()
	r.receipts[id]++
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if r.receipts[id]--; r.receipts[id] <= 0 {
			delete(r.receipts, id)
		}
		r.mu.Unlock()
	}
}

// receiptHeld: a receive session holds id (HoldRecopy).
func (r *ReceiptShadow) receiptHeld(id queue.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.receipts[id] > 0
}

// RecopyRefused implements smtp.ReceiptRecopier: a copy on receipt
// that the servers tried refused after the commit named the first of
// them is made on the next candidate of pref (the receive connector's
// preference) within the same receipt.
func (r *ReceiptShadow) RecopyRefused(ctx context.Context, id queue.ID, pref string, tried []string) (string, error) {
	if r.store == nil {
		return "", nil
	}
	done := map[string]bool{}
	for _, s := range tried {
		done[s] = true
	}
	// The message's first delivery attempt starts at its commit and
	// may be under way: the copy is made all the same, and the record
	// names it after the attempt (queue.ShadowRecopied, rt18b F1).
	var org string
	srv, err := r.recopy(ctx, r.store, id, func(string) string { return pref }, done, &org)
	if srv != "" {
		r.handMayHoldDiscards(ctx, r.store, id, org, srv, "before the reply")
	}
	return srv, err
}

// WatchedDiscards is a store (queue.Manager) that knows the watch
// sessions open to it and waits for one to fetch a discard (queue
// watchfetch.go).
type WatchedDiscards interface {
	// Watched reports whether server has a watch session open here.
	Watched(server string) bool
	// AwaitDiscardFetched waits until server fetched the discard of
	// message id's copy owed to it, or ctx ends (false).
	AwaitDiscardFetched(ctx context.Context, id queue.ID, server string) bool
	// DiscardAcks counts server's acknowledgements of notifications
	// sent to it: one that has not moved since a wait for it ran out
	// is a watch session gone silent (watchSilent).
	DiscardAcks(server string) uint64
}

// receiptDiscardPush bounds, before the sender's 250, the hand-over of
// the discards owed to the servers that may hold a copy on receipt
// (handMayHoldDiscards), all at once.
var receiptDiscardPush = 2 * time.Second // a var for the tests

// handMayHoldDiscards hands, before the receive session's 250, the
// discards q owes to every server that may hold message id's copy — a
// push to it that got no reply once the copy was sent (the session
// broke, was reset, or hung) — now that holder keeps the confirmed one
// (receipt42 item 1); and so does a made-again pass once it made the
// copy (Recopy, rcpt43 item 1). when says which, for the log. The commit naming holder wrote them (queue
// nameCopyHolder, discardUnconfirmedInDelivery); left for those servers
// to fetch at their next contact, this server lost for good before it
// left two holders that both took the message over and delivered it.
// Each goes as a stop hands them (pushDiscards: XDISCARD, shadow verbs
// 13), within receiptDiscardPush, its QUIT ended apart (endApart: a
// server that took its discards is not waited for, nor taken for one
// that hung, when it never answers the QUIT; rrrcpt43); one not
// reached in time (down, hung)
// still fetches it at its next contact, as before. A server that never
// stored the copy keeps the discard as an early one, dropped with its
// expiry (smtp receiptcopy.go). A server whose push or hand-over ran
// out of its bound lately (hungLately) is not tried: a session to it
// would hang the 2 s as well, on every receipt it hung (rrreceipt42);
// it fetches the discard at its next contact. A server whose watch
// session is open here (WatchedDiscards) fetches it there, woken by the
// commit that owed it: that fetch is waited for first, within half the
// bound, hung lately or not (a kill -9 of this server right after the
// 250 beat the fetch: two deliveries, CI of session 44); a hung server
// whose watch session did not fetch it in time is not tried either.
//
// orgID is the org id the copy was pushed under: a message that left
// this server while the copy made again was in flight (its attempt
// ended, a removal) has no record left to read the discards owed from,
// and the commit recording the copy owed holder its discard too
// (queue ShadowRecopiedOrg). Read by the record, nothing was handed,
// and the 250 or the pass's end went out with every server that may
// hold the copy, holder included, free to take over a message that left
// (rdleft45, the sibling of HandLeftDiscards): found by orgID then, as
// HandLeftDiscards finds them, holder's too. A watched server's fetch
// is waited for by orgID as well: the message may leave during the
// wait, and the discard stays owed.
func (r *ReceiptShadow) handMayHoldDiscards(ctx context.Context, q RecopyStore, id queue.ID, orgID, holder, when string) {
	up, ok := q.(interface {
		UnconfirmedPushesOrg(id queue.ID, orgID string) ([]queue.UnconfirmedPush, bool)
	})
	if !ok {
		return
	}
	pushes, gone := up.UnconfirmedPushesOrg(id, orgID)
	var servers []string
	for _, u := range pushes {
		if u.DiscardOwed {
			servers = append(servers, u.Server)
		}
	}
	if gone {
		holder = "" // its copy is of a message that left: owed its discard too
	}
	await := func(ctx context.Context, w WatchedDiscards, server string) bool {
		return w.AwaitDiscardFetched(ctx, id, server)
	}
	if od, ok := q.(OrgDiscards); ok && orgID != "" {
		// By the org id, the record gone or not: a message that leaves
		// while the wait runs owes the discard all the same, and a wait
		// read through its record ended at once, "cannot tell".
		await = func(ctx context.Context, _ WatchedDiscards, server string) bool {
			return od.AwaitOrgDiscardFetched(ctx, orgID, server)
		}
	} else if gone {
		return
	}
	r.handDiscards(ctx, q, id, servers, holder, when, await)
}

// OrgDiscards is a store (queue.Manager) that knows the discards owed
// by the copy's org id, for a message whose record is gone.
type OrgDiscards interface {
	// OrgDiscardOwed reports whether the discard of copy orgID is owed
	// to server and not fetched yet.
	OrgDiscardOwed(orgID, server string) bool
	// AwaitOrgDiscardFetched waits until server fetched it, or ctx
	// ends (false).
	AwaitOrgDiscardFetched(ctx context.Context, orgID, server string) bool
}

// HandLeftDiscards implements smtp.LeftDiscardHander: message id (org
// id orgID) left this server — delivered or handed on — while its copy
// on receipt was pushed to servers with no reply once the copy was
// sent; the commit that ended it owes each the copy's discard. Handed
// before the 250 as handMayHoldDiscards hands a made-again copy's: left
// for their next contact, this server killed right after the 250 left
// each free to take the copy over and deliver the message a second
// time (rdwatch45; a push hung past its 2 s while a local delivery took
// milliseconds). The record may be gone: the discards are found by the
// org id.
func (r *ReceiptShadow) HandLeftDiscards(ctx context.Context, id queue.ID, orgID string, servers []string) {
	od, ok := r.store.(OrgDiscards)
	if r.store == nil || !ok || orgID == "" {
		return
	}
	var owed []string
	for _, s := range servers {
		if od.OrgDiscardOwed(orgID, s) {
			owed = append(owed, s)
		}
	}
	r.handDiscards(ctx, r.store, id, owed, "", "before the reply", func(ctx context.Context, _ WatchedDiscards, server string) bool {
		return od.AwaitOrgDiscardFetched(ctx, orgID, server)
	})
}

// handDiscards hands the discards owed to servers (each of which may
// hold message id's copy on receipt), but holder's, before the 250 or
// a made-again pass's end: a watched server's fetch on its watch
// session waited for (await), else, or then, a push of them
// (handMayHoldDiscards).
func (r *ReceiptShadow) handDiscards(ctx context.Context, q RecopyStore, id queue.ID, servers []string, holder, when string, await func(ctx context.Context, w WatchedDiscards, server string) bool) {
	owed, ok2 := q.(OwedDiscards)
	st := r.d.st.Load()
	if !ok2 || st.cfg.Topology == nil || pushID(st) == "" || len(servers) == 0 {
		return
	}
	watch, _ := q.(WatchedDiscards)
	ctx, cancel := boundedTry(ctx, receiptDiscardPush)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range servers {
		s, known := st.cfg.Topology.Server(name)
		if !known || !st.cfg.Topology.Transport(s.Name) || mailaddr.NameKey(s.Name) == mailaddr.NameKey(holder) {
			continue
		}
		watched := watch != nil && watch.Watched(s.Name) && !r.watchSilent(watch, s.Name)
		if !watched && r.hungLately(s.Name) {
			r.d.log.Info("discard of an unconfirmed shadow copy not handed "+when+": the shadow server hung lately, it fetches it at its next contact",
				"msg_id", id.String(), "shadow_server", s.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.d.recoverLogged(PanicPush, "shadow_server", s.Name) // panics.go
			if watched {
				// Its watch session here was woken by the commit that
				// owed the discard: it fetches it within a round trip,
				// on a session of its own that answers even when our
				// pushes to it hang (queue watchfetch.go). Waited for,
				// within a share of the bound: the 250 left before it,
				// and this server killed right after, left the copy
				// there to be taken over beside the one made here.
				acks := watch.DiscardAcks(s.Name) // before the wait: one that comes during it is no silence
				wctx, wcancel := context.WithTimeout(ctx, receiptDiscardPush/2)
				fetched := await(wctx, watch, s.Name)
				ranOut := errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
				wcancel()
				if fetched {
					r.watchMissed.Delete(mailaddr.NameKey(s.Name))
					return
				}
				if ranOut {
					// Its share ran out with the session open: not
					// waited for again until it acknowledges
					// something (watchSilent).
					r.watchMissed.Store(mailaddr.NameKey(s.Name), acks)
				}
				if r.hungLately(s.Name) {
					r.d.log.Info("discard of an unconfirmed shadow copy not handed "+when+": the shadow server hung lately and its watch session did not fetch it in time, it fetches it at its next contact",
						"msg_id", id.String(), "shadow_server", s.Name)
					return
				}
			}
			// Its QUIT apart, as dial's (rcpt43 item 5): a server
			// that took its discards and never answers the QUIT held
			// the pass, or the sender before its 250, to the bound,
			// and was taken for one that hung (rrrcpt43).
			n, err := r.d.pushDiscardsEnd(ctx, st, s.Name, s.Address, owed, func(c *smtp.Client) { r.endApart(c, c.QuitBounded) })
			if err != nil {
				// Ran out of the 2 s, or of the session's own deadline
				// first (command_timeout under it, shadow45 item 3), or
				// of the connect timeout (rcpt47 item 4): the next
				// receipts do not wait for it. Not when the caller ended
				// first (the stop cut the receipt or the pass): the
				// server did nothing wrong (rcpt44 item 3).
				r.noteSilent(ctx, s.Name, err)
				r.d.log.Info("discard of an unconfirmed shadow copy not handed "+when+": the shadow server fetches it at its next contact",
					"msg_id", id.String(), "shadow_server", s.Name, "handed", n, "err", err)
			}
		}()
	}
	wg.Wait()
}

// hungPassedOver bounds how long a server whose push (or discard hand-over)
// ran out of its bound is passed over by handMayHoldDiscards, a push to
// it confirmed ending it sooner: a server back from a stall is handed
// its discards before the 250 again within it.
const hungPassedOver = time.Minute

// watchSilent reports whether server's watch session let a wait for
// its fetch run out (handMayHoldDiscards) and has acknowledged nothing
// since (watch.DiscardAcks unmoved): silent, its server stalled in the
// save, it fetches nothing before the 250 either, and a wait for it on
// every receipt (every message of a made-again pass, one after the
// other) held each that long for nothing — the hang hungLately spares
// the pushes (rdwatch45). Its next acknowledgement ends it.
func (r *ReceiptShadow) watchSilent(watch WatchedDiscards, server string) bool {
	v, ok := r.watchMissed.Load(mailaddr.NameKey(server))
	if !ok {
		return false
	}
	if watch.DiscardAcks(server) != v.(uint64) {
		r.watchMissed.CompareAndDelete(mailaddr.NameKey(server), v)
		return false
	}
	return true
}

// hungLately reports whether server's last push of a copy on receipt,
// or hand-over of discards before a 250, ran out of its bound within
// hungPassedOver, with no push to it confirmed since (hungAt).
func (r *ReceiptShadow) hungLately(server string) bool {
	v, ok := r.hungAt.Load(mailaddr.NameKey(server))
	return ok && r.clock().Sub(v.(time.Time)) < hungPassedOver
}

// recopy is Recopy, the servers in tried refused already. A failure one
// of whose pushes got no reply once its copy was sent is an
// smtp.CopyMayBeHeldError naming those servers: each may hold the copy
// (a receive session whose message left meanwhile says so, rcpt44 item
// 2). *org gets the org id the copy is pushed under ("" when none is).
func (r *ReceiptShadow) recopy(ctx context.Context, q RecopyStore, id queue.ID, prefOf func(connector string) string, tried map[string]bool, org *string) (_ string, err error) {
	var mayHold []string
	defer func() {
		if err != nil && len(mayHold) > 0 {
			err = &smtp.CopyMayBeHeldError{Servers: mayHold, Err: err}
		}
	}()
	m, body, ok, err := q.RecopyCandidate(id)
	if err != nil || !ok {
		return "", err
	}
	*org = m.OrgID // the copy's name: its discards, once the message left (handMayHoldDiscards)
	pref := ""
	if prefOf != nil {
		pref = prefOf(m.Connector)
	}
	if pref == "" || pref == config.ShadowOnReceiptOff {
		pref = config.ShadowOnReceiptPreferRemote
	}
	if body.Spooled() {
		// The spool file goes when the message is delivered: the push
		// reads a link to it (an orphan, swept at the next Open, after a
		// crash), as the receive session's push does.
		path, off, n := body.File()
		if err := os.Link(path, path+".recopy"); err == nil {
			body = queue.SpooledBody(body.Head(), path+".recopy", off, n)
			defer os.Remove(path + ".recopy")
		}
	}
	if tried == nil {
		tried = map[string]bool{}
	}
	former := formerHolder(q, id)
	named := m.ShadowServer // the record's holder, which may keep a copy whatever a push to it answers
	var failedTries []string
	if u := r.unreachedHolder(q, id); u != "" {
		// Taken as lost there because no probe reached it for the
		// takeover bound: made elsewhere, never there again — a copy
		// pushed there by a route its probes do not take was taken as
		// lost again at the next pass, and so every pass (rr
		// recopy39). A probe that reaches it drops the mark: it holds
		// the copy (shadow.Holders, HolderAnswered); a mark that names
		// a push to another server stays (the copy made again settles
		// it), and the holder, answering, is a candidate again
		// (unreachedHolder).
		tried[u] = true
		if st := r.d.st.Load(); st.cfg.Topology != nil {
			if s, ok := st.cfg.Topology.Server(u); ok {
				tried[s.Name] = true // as the topology spells it (openPlan)
			}
		}
		if strings.EqualFold(former, u) {
			former = ""
		}
		failedTries = append(failedTries, u+": not tried, no probe reaches it (its copy was taken as lost there)")
	}
	for {
		link, err := r.openPlan(ctx, pref, tried, m.RequireTLS, copyLimitSize(r.d.st.Load(), m, body), former) // a REQUIRETLS copy: verified TLS only; none over a server's SIZE
		if err != nil {
			if len(failedTries) > 0 {
				// Every candidate the budgets allow failed it
				// (refused, hung, or its session broke mid-push), or
				// the rest did not answer.
				if noCandidate(err) {
					return "", errors.New(strings.Join(failedTries, "; "))
				}
				return "", fmt.Errorf("%s; %w", strings.Join(failedTries, "; "), err)
			}
			return "", err
		}
		// The candidates tried before link's server are tries of the
		// budgets as much as a failed push is: the next turn of the
		// loop does not plan them again, nor a server past the budget
		// in their place (rrmidpush41).
		for _, p := range link.passed {
			tried[p] = true
		}
		failedTries = append(failedTries, link.passedWhy...)
		srv := link.Server()
		m.ShadowServer, m.ShadowID = "", ""
		heldBefore := mayHoldBefore(q, id, srv, named)
		var named bool
		if m.HolderMark, named, err = q.RecopyPushingNamed(id, srv); err != nil {
			link.Done(true)
			return "", err
		}
		if !named {
			// Left, or copied elsewhere, since it was read: no copy
			// needed, and none pushed — an unanswered push would leave
			// a copy on srv that no discard here names, taken over
			// once this server is lost (rrrcpt44).
			link.Done(true)
			return "", nil
		}
		err = link.Push(ctx, m, body)
		link.Done(err == nil)
		if err == nil {
			if err := q.ShadowRecopiedOrg(id, m.OrgID, srv); err != nil {
				// srv holds the copy, and no commit names it: it is
				// one that may hold it (RecopyPushingNamed kept it so),
				// and the receive session says so, not "no shadow
				// copy", and hands it its discard when the message
				// left (rdrcpt47).
				mayHold = append(mayHold, srv)
				return "", err
			}
			return srv, nil
		}
		if link.MayHold() {
			mayHold = append(mayHold, srv)
		}
		if !link.MayHold() && !heldBefore {
			// It answered every try (a refusal, a 421 at any step):
			// it kept nothing, and is no server that may hold the
			// copy (receipt42 item 2) — RecopyPushing kept it as one.
			if kn, ok := q.(keptNothingStore); ok {
				if kerr := kn.RecopyKeptNothing(id, srv); kerr != nil {
					r.d.log.Error("recording a shadow server that kept nothing of a copy failed", "msg_id", id.String(), "shadow_server", srv, "err", kerr)
				}
			}
		}
		if !refusedCopy(err) {
			// Not confirmed, but the server may store it all the same
			// (a push abandoned at its bound, committed when the
			// server runs again; a session broken after the data's
			// end): RecopyPushing kept it in the mark, so it gets the
			// copy's discard once the copy is made elsewhere (rt27 F7).
			if ctx.Err() != nil {
				return "", fmt.Errorf("%s: %w", srv, err)
			}
			// A failed try, as on receipt — the next candidate now,
			// not at the next pass: not answered in time (hung: the
			// push marked it; the next pass's probe would wait for it
			// a second time first, rt19f F4), or its session ended
			// mid-way and the link's second session failed too (a
			// 421, an EOF, a reset: the server stopping or killed,
			// midpush41).
			tried[srv] = true
			if errors.Is(err, errSessionTimedOut) {
				// Cut by its session's deadline before the bound
				// (sessionTimedOut): the bound never ran out.
				failedTries = append(failedTries, srv+": not answered within the session's command_timeout or data_timeout")
			} else if errors.Is(err, smtp.ErrCopyTimedOut) {
				failedTries = append(failedTries, srv+": not answered within "+receiptTry.String())
			} else {
				failedTries = append(failedTries, srv+": push failed: "+err.Error())
			}
			continue
		}
		// Refused: srv holds no copy; the next candidate is tried.
		if rerr := q.RecopyRefused(id, srv, smtp.Reply(err)); rerr != nil {
			r.d.log.Error("recording a refused shadow copy failed", "msg_id", id.String(), "shadow_server", srv, "err", rerr)
		}
		tried[srv] = true
		failedTries = append(failedTries, srv+": "+smtp.Reply(err))
		if ctx.Err() != nil {
			return "", errors.New(strings.Join(failedTries, "; "))
		}
	}
}

// keptNothingStore is a RecopyStore that takes a server that answered a
// push of a copy made again out of those that may hold it
// (queue.Manager.RecopyKeptNothing).
type keptNothingStore interface {
	RecopyKeptNothing(id queue.ID, server string) error
}

// mayHoldBefore reports whether server may hold a copy of message id
// before a push to it: the record names it (named), or a push to it was
// unconfirmed or its discard of the copy is owed (queue
// UnconfirmedPushes). A store that cannot tell: it may.
func mayHoldBefore(q RecopyStore, id queue.ID, server, named string) bool {
	if named != "" && mailaddr.NameKey(named) == mailaddr.NameKey(server) {
		return true
	}
	up, ok := q.(interface {
		UnconfirmedPushes(id queue.ID) []queue.UnconfirmedPush
	})
	if !ok {
		return true
	}
	for _, u := range up.UnconfirmedPushes(id) {
		if mailaddr.NameKey(u.Server) == mailaddr.NameKey(server) {
			return true
		}
	}
	return false
}

// SingleMarks is a RecopyStore that reads a message's mark of held by
// this server only (queue.Manager.SingleCopyOf).
type SingleMarks interface {
	SingleCopyOf(id queue.ID) (queue.SingleCopy, bool)
}

// formerHolder is the server message id's copy was on before it was
// lost, removed or set aside there (its mark's Lost), when q tells
// (SingleMarks): a candidate for the copy made again after those of the
// preference (openPlan) — that server answering again, with a new
// database, keeps copies for this one as before (rt32a F1). Not the
// primary a taken-over message came from (TakenOver: the copy here is
// its message now). A server that refused the copy since (452 from a
// full disk) is marked in destination health; the mark's Lost is still
// the server that lost it, tried last.
func formerHolder(q RecopyStore, id queue.ID) string {
	sm, ok := q.(SingleMarks)
	if !ok {
		return ""
	}
	sc, ok := sm.SingleCopyOf(id)
	if !ok || sc.TakenOver {
		return ""
	}
	return sc.Lost
}

// unreachedHolder is the server message id's copy was taken as lost on
// because no probe reached it for the takeover bound (its mark's Lost,
// How queue.HowUnreachable), when q tells (SingleMarks), while its last
// probe here did not answer (none yet this start is none answered); ""
// otherwise. One answering again is a candidate as any (rr rrmix39): a
// mark naming a push to another server outlives its answer
// (queue.ShadowHolderAnswered keeps it for that server's discard), and
// with that server gone the message stayed held here alone for good,
// the holder up and passed over.
func (r *ReceiptShadow) unreachedHolder(q RecopyStore, id queue.ID) string {
	sm, ok := q.(SingleMarks)
	if !ok {
		return ""
	}
	sc, ok := sm.SingleCopyOf(id)
	if !ok || sc.How != queue.HowUnreachable {
		return ""
	}
	name := sc.Lost
	if st := r.d.st.Load(); st.cfg.Topology != nil {
		if s, ok := st.cfg.Topology.Server(sc.Lost); ok {
			name = s.Name // as Probe keys it
		}
	}
	if v, _ := r.probeAnswered.Load(strings.ToLower(name)); v == true {
		return ""
	}
	return sc.Lost
}

// Holders is the Copier of shadow.Holders: probes and copies through R,
// marks in Q, the preference of each receive connector from Pref.
type Holders struct {
	R    *ReceiptShadow
	Q    RecopyStore
	Pref func(connector string) string
}

// Stale implements shadow.StaleLister: the transport servers of the
// topology (other than this one) that destination health marks, by name
// or address — a failed copy, relay, heartbeat or probe — so that a
// quiet peer that came back is probed and its mark goes. And the
// servers whose shadow sessions are refused here and that are owed
// discard notifications: their probe hands those over (Probe,
// pushToRefused), as their own queries cannot fetch them.
func (h Holders) Stale() []string {
	st := h.R.d.st.Load()
	if st.cfg.Topology == nil {
		return nil
	}
	var out []string
	if h.R.d.health != nil {
		same, other := st.cfg.Topology.ShadowCandidates(st.cfg.LocalServer)
		for _, s := range append(append([]*routing.Server(nil), same...), other...) {
			if h.R.d.health.Unhealthy(s.Name, s.Address) {
				out = append(out, s.Name)
			}
		}
	}
	if q, ok := h.Q.(OwedDiscards); ok {
		// The holders of queued messages are read before the owed
		// discards: a message that leaves between the two writes its
		// discard in the commit that ends it, so the owed list read
		// second has it (pruneHolderAddrs keeps the address).
		held, heldErr := map[string]int(nil), error(nil)
		hl, listsHeld := h.Q.(interface {
			ShadowHolders() (map[string]int, error)
		})
		if listsHeld {
			held, heldErr = hl.ShadowHolders()
		}
		if owed, err := q.OwedDiscardServers(); err == nil {
			// Every server owed discards, whether a queued message
			// has a copy there or not: a holder whose own sessions to
			// this server fail is kept from taking over by these
			// probes, and handed its discards after them
			// (silentholders.go); one refused here too.
			for _, n := range owed {
				if (st.cfg.Topology.Transport(n) || h.R.sessionsRefused(n)) && !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
			// And the former holders (formerholders.go): owed
			// discards, no transport server of the topology now.
			for _, n := range h.R.formerStale(owed) {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
			if listsHeld && heldErr == nil {
				h.R.pruneHolderAddrs(owed, held)
			}
		}
	}
	return out
}

// Probe implements shadow.Copier. The discards owed to a holder whose
// sessions are refused here, or to one the topology no longer lists as
// a transport server (formerholders.go), are handed over after it:
// its own queries cannot fetch them.
func (h Holders) Probe(ctx context.Context, server string) (string, error) {
	id, err := h.R.Probe(ctx, server)
	if err == nil {
		h.restoredAnswer(server)
	}
	if pr := (*probeRefusedError)(nil); errors.As(err, &pr) {
		pr.holds = presentsRecorded(h.Q, server, pr.ref.DatabaseDigest())
	}
	q, ok := h.Q.(OwedDiscards)
	switch {
	case !ok:
	case err == nil && h.R.sessionsRefused(server):
		h.R.pushToRefused(ctx, server, q)
	case err == nil && h.R.holderSilent(server) && owes(q, server):
		h.R.pushToSilent(ctx, server, q)
	case h.R.formerHolderAddr(server) != "":
		// No probe goes to a server the topology does not name
		// (ErrUnknownServer); the hand-over reaching it as the holder
		// answers for it: the database id it answered with says it is
		// up, so its copies are not taken as lost (shadow
		// unreachedBound), the error still says no probe was made.
		if db := h.R.pushToFormer(ctx, server, q); db != "" && id == "" {
			id = db
		}
	}
	if errors.Is(err, ErrUnknownServer) {
		err = &unprobedError{err: err, how: h.unprobedHow(server, ok)}
	}
	return id, err
}

// unprobedError is a Probe error of a holder no probe goes to
// (ErrUnknownServer), saying why and what was tried in its stead
// (shadow.UnprobedHow): the WARN of its copies taken as lost said "no
// server of this server's topology" and "no hand-over of discards
// reached it" without a topology too, and where none was tried for want
// of an address (holders49 item 2).
type unprobedError struct {
	err error
	how string
}

func (e *unprobedError) Error() string       { return e.err.Error() }
func (e *unprobedError) Unwrap() error       { return e.err }
func (e *unprobedError) UnprobedHow() string { return e.how }

// unprobedHow says why no probe goes to server and whether a hand-over
// of its discards was tried (handing: the store hands discards over).
func (h Holders) unprobedHow(server string, handing bool) string {
	st := h.R.d.st.Load()
	switch {
	case st.cfg.Topology == nil:
		return "no probe goes to it (this server has no topology, so no address of it is known), and no hand-over of discards is tried"
	case st.cfg.ShadowServerID == "":
		// A former holder's owed discards are handed over all the same,
		// under OwedPushID (pushID, formerAddr), at its address.
		if addr := h.R.formerHolderAddr(server); addr != "" && handing {
			return "no probe goes to it (shadow redundancy is off here: no shadow server id to state), and no hand-over of discards at " + addr + " reached it as the holder"
		}
		return "no probe goes to it (shadow redundancy is off here: no shadow server id to state), and no hand-over of discards is tried"
	}
	if _, named := st.cfg.Topology.Server(server); named {
		// Named, but not as a transport server: its address is the
		// topology's, tried for the hand-over below.
		if addr := h.R.formerHolderAddr(server); addr != "" && handing {
			return "no probe goes to it (no transport server of this server's topology), and no hand-over of discards at its address " + addr + " reached it as the holder"
		}
		return "no probe goes to it (no transport server of this server's topology)"
	}
	if addr := h.R.formerHolderAddr(server); addr != "" && handing {
		return "no probe goes to it (no server of this server's topology), and no hand-over of discards at its recorded address " + addr + " reached it as the holder"
	}
	return "no probe goes to it (no server of this server's topology), and no hand-over of discards is tried: no address of it is known here (none recorded when its copies were made)"
}

// presentsRecorded reports whether digest, the database digest a holder
// advertised before it refused this server, is that of the transport
// database id recorded for it (queue ShadowHolderID).
func presentsRecorded(q any, server, digest string) bool {
	h, ok := q.(interface {
		ShadowHolderID(server string) (string, error)
	})
	if !ok || digest == "" {
		return false
	}
	id, err := h.ShadowHolderID(server)
	return err == nil && id != "" && queue.DatabaseDigest(id) == digest
}

// sessionsRefused reports whether server's shadow sessions are refused
// here (ShadowSessionRefused, until one is let in).
func (r *ReceiptShadow) sessionsRefused(server string) bool {
	_, ok := r.sessionRefusals.Load(r.refusalKey(server, ""))
	return ok
}

// pushToRefused hands the discard notifications this server owes to
// server, a holder whose shadow sessions are refused here, over a
// session of this server's (XDISCARD, as at a stop: pushDiscards),
// within StopPushPerServer. Its discard queries are refused, so without
// this a copy made on it (the first ones before its sessions were seen,
// the one a minute since) is never discarded, and it takes the copy over
// at its expiry while this server delivered the original long before: a
// second delivery (rt30a F1). Each pass of the holders does it, after
// the probe that reached the server.
func (r *ReceiptShadow) pushToRefused(ctx context.Context, server string, q OwedDiscards) {
	name, n, ok, err := r.pushOwed(ctx, server, q)
	switch {
	case !ok, errors.Is(err, smtp.ErrNoPush):
	case err != nil:
		r.d.log.Info("discard notifications not all handed to a shadow server whose sessions this server refuses; tried again at the next pass",
			"shadow_server", name, "handed", n, "err", err)
	case n > 0:
		r.d.log.Info("discard notifications handed to a shadow server whose sessions this server refuses (its own queries are refused)",
			"shadow_server", name, "count", n)
	}
}

// pushOwed hands the discard notifications this server owes to server,
// a transport server of the topology, over a session of this server's
// (XDISCARD: pushDiscards) within StopPushPerServer; name is the
// topology's, ok false when no push could be tried (no topology, no
// shadow id, a server it does not name).
func (r *ReceiptShadow) pushOwed(ctx context.Context, server string, q OwedDiscards) (name string, n int, ok bool, err error) {
	st := r.d.st.Load()
	if st.cfg.Topology == nil || st.cfg.ShadowServerID == "" {
		return "", 0, false, nil
	}
	s, found := st.cfg.Topology.Server(server)
	if !found {
		return "", 0, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, StopPushPerServer)
	defer cancel()
	n, err = r.d.pushDiscards(ctx, st, s.Name, s.Address, q)
	return s.Name, n, true, err
}

// Recopy implements shadow.Copier.
func (h Holders) Recopy(ctx context.Context, id uint64) (string, error) {
	return h.R.Recopy(ctx, h.Q, queue.ID(id), h.Pref)
}

var _ smtp.ReceiptShadow = (*ReceiptShadow)(nil)
