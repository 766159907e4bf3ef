package shadow

// A primary of an earlier release (shadow30 item 3). A release before
// the database digest (XSHADOWDB) advertises none, and a refusal without
// the digest was never the primary's (Judging a refusal, doc.go): such
// a primary, answering and holding its mail, had its heartbeats counted
// as failed while it refused — its connector lost the shadow verbs, its
// account changed during a rolling upgrade — and its copies were taken
// over while it delivered them: duplicates, for no reason but its age.
//
// What proves a primary of an earlier release is a completed session
// with it: its XSHADOW reply carried the stored database id (only the
// primary has it) and its EHLO no digest (SessionDigest). That is kept
// in the store (EarlierReleaseStore: a restart, the shadow server's own
// upgrade, must not forget it) for that database id. While it holds, a
// refusal without a digest at its address is the primary's — alive: no
// failure, no takeover, refused in the views, as a refusal presenting
// its digest is. A completed session presenting a digest (upgraded)
// ends it, and so does another database id: from then on a refusal
// without the digest is not the primary's, as before (rt18 F4). A
// primary never proved so — every primary of this release, and one
// whose heartbeats never completed — is judged as before: what answers
// without the digest at its address may be a server that took a dead
// primary's address, and gets no power to hold its copies.
//
// The price: something at the address of a primary proved of an
// earlier release that refuses without a digest keeps its copies here
// until it lets this server in, the primary is upgraded, or the copies
// expire (message_expiration plus an hour, then taken over as any). The
// expiry is the one bound, so such a refusal keeps no expired copy
// (Manager.KeepExpiredCopies: only a refusal presenting the copies'
// database digest does; Recorder.refused's digested).

// EarlierReleaseStore is implemented by a Store that keeps which
// primaries a completed session proved to advertise no database digest.
type EarlierReleaseStore interface {
	// NoteDigestless records (digestless) that a completed session with
	// primary, presenting dbID in its XSHADOW reply, advertised no
	// digest, or forgets it (not digestless); a write only on a change.
	NoteDigestless(primary, dbID string, digestless bool) error
	// Digestless reports whether primary was proved so for the database
	// id stored for it now.
	Digestless(primary string) (bool, error)
}

// SessionDigest records what a completed session with primary proved:
// its XSHADOW reply carried dbID, its EHLO the database digest digest
// ("" when none: a release before the digest). Called by the sessions
// that reach the XSHADOW reply (package delivery: relay, watch and heartbeat, noteDigest); a store
// that is no EarlierReleaseStore keeps nothing. Written only on a
// change (kept in memory beside the store, by nameKey), a failure
// logged. It is written under the name the store keeps the primary
// under (storedName): a relay names it as the topology spells it, and a
// busy primary's relays are its only sessions — kept under that
// spelling, the proof was never read for the primary the heartbeats
// judge, nor ended by a relay that saw it upgraded (a refusal without
// the digest at its address kept being taken for its own).
func (r *Recorder) SessionDigest(primary, dbID, digest string) {
	es, ok := r.store.(EarlierReleaseStore)
	if !ok || dbID == "" {
		return
	}
	state := "+"
	if digest == "" {
		state = "-" + dbID
	}
	if prev, ok := r.digestNoted.Load(nameKey(primary)); ok && prev.(string) == state {
		return
	}
	primary = r.storedName(primary)
	if err := es.NoteDigestless(primary, dbID, digest == ""); err != nil {
		r.log.Error("recording whether a primary advertises its database digest failed", "primary", primary, "err", err)
		return
	}
	if prev, ok := r.digestNoted.Swap(nameKey(primary), state); digest == "" && (!ok || prev.(string) != state) {
		r.log.Info("primary of an earlier release (no database digest advertised): a refusal of its own at its address is taken as the primary's, alive, not as a failed heartbeat",
			"primary", primary)
	}
}

// EarlierRelease reports whether primary was proved of an earlier
// release for its stored database id (EarlierReleaseStore): a refusal
// without the digest is then its own (package delivery judges the
// primary's destination health by it too).
func (r *Recorder) EarlierRelease(primary string) bool {
	es, ok := r.store.(EarlierReleaseStore)
	if !ok {
		return false
	}
	d, err := es.Digestless(primary)
	if err != nil {
		r.log.Error("reading whether a primary advertises its database digest failed", "primary", primary, "err", err)
		return false
	}
	return d
}
