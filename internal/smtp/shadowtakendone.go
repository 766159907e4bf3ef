package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/shadowid"
)

// XQUERYTAKENDONE (shadow verbs version 15): a primary back with the
// transport database it had asks a server that keeps copies of its
// messages what that server finished of the copies it took over from
// that database while the primary was away (queue takendone.go).
// "XQUERYTAKENDONE <max>", only after an XSHADOW in the same session
// that presented the client's database id (… DB=<id>), lists up to max
// notes, as XQUERYDISCARD lists notifications:
//
//	250-2.0.0 2 finished here
//	250-<id> RCPT=<address as xtext> DELIVERED|RELAYED|FAILED
//	250 <id> DELAYED
//
// A line with RCPT= is a recipient of the copy <id> delivered, relayed
// out or failed here (its DSN went from here); DELAYED, the copy's delay
// DSN went from here. The client marks those recipients of its records
// done without a DSN (and a delay DSN sent) before its next command; the
// server forgets the notes once the client speaks again (SR-15), and
// the client repeats while n == max. A session that presented no
// database id hears of none (250 2.0.0 0 finished here): the notes are
// kept by database id, a secret of the transport servers. A client asks
// only a server that advertised 15; a server offers it when its queue
// keeps the notes (TakenDoneTeller): an older peer, on either side, sees
// the commands of version 14, and the primary sends its own DSNs as
// before.
//
// Version 16 adds "XQUERYTAKENDONE <max> HELD": the list also carries
//
//	250 <id> HELD
//
// for a copy taken over here and held by this server's administrator
// when it was given back (queue heldnote.go); the client suspends its
// original of that copy before its next command. A client says HELD
// only to a server that advertised 16; a server lists held notes only
// to a query that says HELD (HeldTeller), and one without forgets them
// (the older primary delivers: the queue says so at WARN).

// Version 21 adds "XQUERYTAKENDONE <max> HELD BUSY": after the notes
// the list also carries
//
//	250 <id> BUSY
//
// for a copy taken over here from the client's database that is in
// delivery here now (queue takenbusy.go: nothing kept, nothing to
// forget; the list stays within max, and a shadow session tells each
// once, so that a client asking round after round hears the next ones
// — a reply with fewer than max lines is the end). The client keeps its original of
// that copy out of delivery until a later answer has no such line for
// it. A client says BUSY only to a server that advertised 21 (and only
// after HELD); a server lists such lines only to a query that says BUSY
// (BusyTeller), so an older peer on either side sees the replies of 20.

// BusyTeller is a HeldTeller that also tells the copies taken over
// here that are in delivery (queue.Manager): only then is version 21
// offered.
type BusyTeller interface {
	HeldTeller
	// TakenBusyFor lists up to max copies taken over from the database
	// dbID that are in delivery here.
	TakenBusyFor(dbID string, max int) []queue.TakenDone
}

// Version 22 adds "XQUERYTAKENDONE <max> HELD BUSY FROM=<database-id>"
// (queue takenover.go): a client whose database was restored from a
// backup names the database id the backup was taken of. The server then
// also tells what concerns that database — its notes, its copies in
// delivery here (BUSY) — and, for each copy it took over from the
// session's server under that id that waits here, a line per pending
// recipient
//
//	250 <id> RCPT=<address as xtext> TAKEN
//
// (this server delivers it: the client marks the recipient of its
// original done without a DSN before its next command). The lines of the
// old database are told after those of the session's, each TAKEN or BUSY
// line once per session, so a reply with fewer than max lines is the end.
// A client says FROM= only to a server that advertised 22; a server
// offers it when its queue tells such copies (TakenOverTeller).

// TakenOverTeller is a BusyTeller that also tells the copies taken over
// here that wait (queue.Manager): only then is version 22 offered.
type TakenOverTeller interface {
	BusyTeller
	// TakenOverFor lists up to max recipients of the copies taken over
	// from primary under its database from that wait here, the session
	// having presented database presented (a record still stored with
	// from is taken over first: SR-7).
	TakenOverFor(primary, presented, from string, max int) []queue.TakenDone
}

// A query that says BUSY (a client of 21 or later) also hears, after the
// BUSY lines of the session's database, a line per recipient of a copy
// taken over here from that database and handed on to another transport
// server in a shadow session that this server has not heard that server
// finish (queue takenhanded.go, handed38):
//
//	250 <id> RCPT=<address as xtext> TAKEN
//
// the line of version 22 for a copy this server's side owns: the client
// marks the recipient of its original done without a DSN, since the
// server it was handed to delivers it, relays it on or fails it with its
// DSN, and should that server fail, this one takes its copy over again.
// No new version: a client of 22 reads the line; one of 21 passes it
// over (it comes after the BUSY lines, so that a reply it reads short
// has told every BUSY line: its original is delivered, as before).

// HandedTeller is a TakenOverTeller that also tells the recipients of
// the copies taken over here and handed on that the next server still
// holds (queue.Manager).
type HandedTeller interface {
	TakenOverTeller
	// TakenHandedFor lists up to max such recipients of the copies taken
	// over from the database dbID.
	TakenHandedFor(dbID string, max int) []queue.TakenDone
}

// HandedHereTeller lists, for a client whose database was restored from
// a backup (FROM=), the recipients of the copies that client handed
// here in a shadow session that this server holds or finished
// (queue.Manager.HandedHereBy): after where the last call ended, up to
// max, and where this one ended ("" nothing more).
type HandedHereTeller interface {
	HandedHereBy(server, after string, max int) ([]queue.TakenDone, string)
}

// TakenDoneTeller is a ShadowVerbs that keeps the notes
// (queue.Manager): only then is version 15 offered.
type TakenDoneTeller interface {
	// TakenDoneFor lists up to max notes for the primary that presented
	// dbID; ack forgets those listed.
	TakenDoneFor(dbID string, max int) ([]queue.TakenDone, func())
}

// HeldTeller is a TakenDoneTeller that also keeps held notes
// (queue.Manager): only then is version 16 offered.
type HeldTeller interface {
	// TakenDoneHeldFor is TakenDoneFor with the held notes.
	TakenDoneHeldFor(dbID string, max int) ([]queue.TakenDone, func())
}

// parseTakenDoneArgs reads XQUERYTAKENDONE's arguments at version:
// "<max>" (15), "<max> HELD" (16), "<max> HELD BUSY" (21), "<max> HELD
// BUSY FROM=<database-id>" (22); max decimal digits only, 1 to 10 of
// them, above 0. The keywords are read in any case; ok false for
// anything else, a form of a later version included.
func parseTakenDoneArgs(arg string, version int) (max int, held, busy bool, from string, ok bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 4 || !digitsOnly(f[0]) {
		return 0, false, false, "", false
	}
	max, err := strconv.Atoi(f[0])
	if err != nil || max <= 0 {
		return 0, false, false, "", false
	}
	if len(f) > 1 {
		if !strings.EqualFold(f[1], "HELD") || version < 16 {
			return 0, false, false, "", false
		}
		held = true
	}
	if len(f) > 2 {
		if !strings.EqualFold(f[2], "BUSY") || version < BusyVersion {
			return 0, false, false, "", false
		}
		busy = true
	}
	if len(f) > 3 {
		k, id, found := strings.Cut(f[3], "=")
		if !found || !strings.EqualFold(k, "FROM") || !shadowid.Valid(id) || version < TakenOverVersion {
			return 0, false, false, "", false
		}
		from = id
	}
	return max, held, busy, from, true
}

// takenDoneSyntax is XQUERYTAKENDONE's one syntax line at version: the
// whole form it reads, whatever was wrong (verbs40 F3: a bad FROM= and a
// bad max were answered with two lines, each of part of the form).
func takenDoneSyntax(version int) string {
	switch {
	case version >= TakenOverVersion:
		return "501 5.5.4 Syntax: XQUERYTAKENDONE <max> [HELD [BUSY [FROM=<database-id>]]], max a positive integer"
	case version >= BusyVersion:
		return "501 5.5.4 Syntax: XQUERYTAKENDONE <max> [HELD [BUSY]], max a positive integer"
	case version >= 16:
		return "501 5.5.4 Syntax: XQUERYTAKENDONE <max> [HELD], max a positive integer"
	}
	return "501 5.5.4 Syntax: XQUERYTAKENDONE <max>, max a positive integer"
}

// takenDoneArgs is what the client asks XQUERYTAKENDONE with at
// version (parseTakenDoneArgs reads it: FuzzClientShadowArgsRead).
func takenDoneArgs(max int, from string, version int) string {
	cmd := strconv.Itoa(max)
	if version >= 16 {
		cmd += " HELD" // held notes too (version 16)
	}
	if version >= BusyVersion {
		cmd += " BUSY" // copies in delivery there too (version 21)
	}
	if version >= TakenOverVersion && from != "" && shadowid.Valid(from) {
		cmd += " FROM=" + from // the database this one was restored from (version 22)
	}
	return cmd
}

// logFromAnother logs an XQUERYTAKENDONE FROM= naming dbID, kept here
// as other's: at WARN, then at DEBUG until anotherDatabaseLogEvery has
// passed since the last WARN, which counts those not WARNed (paced per
// server as logAnotherDatabase is; the query is answered, not refused,
// so nothing is marked or counted as a refusal).
func (s *session) logFromAnother(dbID, other string) {
	warn, suppressed := s.srv.fromOthers.refused(s.shadowServer)
	level := slog.LevelDebug
	args := []any{"primary", s.shadowServer, "database_id", dbID, "known_as", other, "remote", s.ip.String()}
	if warn {
		level = slog.LevelWarn
		if suppressed > 0 {
			args = append(args, "since_last_warning", suppressed)
		}
	}
	s.log.Log(context.Background(), level, "XQUERYTAKENDONE FROM= names another server's transport database: answered for the session's own only", args...)
}

// xqueryTakenDone answers XQUERYTAKENDONE <max> [HELD] (versions 15, 16).
func (v *verbConn) xqueryTakenDone(arg string) string {
	s := v.sess()
	if s == nil { // no greeting yet (a connector that offers the verbs)
		return replyNoGreeting
	}
	if r := s.shadowVerbRefusal("XQUERYTAKENDONE"); r != "" {
		return r
	}
	tt, ok := s.srv.shadow.(TakenDoneTeller)
	if !ok || s.shadowVersion() < 15 {
		return "503 5.5.1 XQUERYTAKENDONE not available"
	}
	max, held, busy, from, ok := parseTakenDoneArgs(arg, s.shadowVersion())
	if !ok {
		return takenDoneSyntax(s.shadowVersion())
	}
	s.peerAnswered()
	if from != "" && from != s.shadowPeerDB {
		// FROM= speaks for the database this server's own was restored
		// from; one known here as another primary's (its live database)
		// hears nothing of it: its notes would be forgotten once told
		// (that primary, asking, would deliver them again), and its
		// TAKEN and BUSY lines are its own (rt17e-F1, as XSHADOW DB=).
		// Looked at before anything else, a session that presented no
		// database id of its own too: the warning is the operator's
		// only sign of it (verbs40 F1).
		if do, ok := s.srv.queue.(DatabaseOwners); ok {
			other, err := do.ShadowDatabaseOfAnother(s.shadowServer, from)
			switch {
			case err != nil:
				s.log.Error("checking the database id of XQUERYTAKENDONE FROM= failed", "primary", s.shadowServer, "err", err)
				if s.shadowPeerDB == "" {
					// The answer is "0 finished here" whatever FROM=
					// names: the check was for the warning only, not
					// a reason to refuse the question (rrverbs40 F2).
					return "250 2.0.0 0 finished here"
				}
				return "451 4.3.0 Database id not checked, try again later"
			case other != "":
				s.logFromAnother(from, other)
				from = ""
			}
		}
	}
	if s.shadowPeerDB == "" {
		return "250 2.0.0 0 finished here"
	}
	list := tt.TakenDoneFor
	if ht, ok := tt.(HeldTeller); ok && held {
		list = ht.TakenDoneHeldFor
	}
	// The copies in delivery here (and those handed on) are read before
	// the notes: the commit of an attempt's results that ends a copy's
	// delivery writes its note, and landing between two reads it made
	// the copy neither in delivery (read after it) nor noted (read
	// before it) — the client released its original and delivered it
	// again (rt42-shadowrcpt F1). Read in this order, a copy is told
	// BUSY, or its note is read after that commit (both at worst: the
	// client applies the notes first).
	if s.busyToldDB != s.shadowPeerDB {
		s.busyTold, s.busyToldDB = nil, s.shadowPeerDB
	}
	var inDelivery, handed []queue.TakenDone
	bt, busyTeller := tt.(BusyTeller)
	if busyTeller && busy {
		inDelivery = bt.TakenBusyFor(s.shadowPeerDB, max+len(s.busyTold))
		if ht, ok := tt.(HandedTeller); ok {
			handed = ht.TakenHandedFor(s.shadowPeerDB, max+len(s.busyTold))
		}
	}
	notes, ack := list(s.shadowPeerDB, max)
	nBusy := 0
	var busyNow []string
	if busyTeller && busy && len(notes) < max {
		// Not forgotten once told, so the ones this session told already
		// are passed over: the next round lists the next ones, and a
		// reply with fewer than max lines says every one was told.
		room := max - len(notes)
		for _, n := range inDelivery {
			if !s.busyTold[n.ID] && len(busyNow) < room {
				notes, busyNow = append(notes, n), append(busyNow, n.ID)
			}
		}
		nBusy = len(busyNow)
		if len(notes) < max {
			notes, busyNow = s.untoldTaken(notes, busyNow, handed, max)
		}
	}
	if ot, ok := tt.(TakenOverTeller); ok && from != "" && from != s.shadowPeerDB && len(notes) < max {
		// The database the client's was restored from (version 22): its
		// copies waiting here (taken over first, when they are not yet:
		// SR-7), its notes and its copies in delivery here (queue
		// takenover.go), after the session's own.
		waiting := ot.TakenOverFor(s.shadowServer, s.shadowPeerDB, from, max+len(s.busyTold))
		if ht, ok := ot.(HandedTeller); ok {
			waiting = append(waiting, ht.TakenHandedFor(from, max+len(s.busyTold))...)
		}
		// Its copies in delivery before its notes, as the session's own.
		oldBusy := ot.TakenBusyFor(from, max+len(s.busyTold))
		old, oldAck := ot.TakenDoneHeldFor(from, max-len(notes))
		notes = append(notes, old...)
		if oldAck != nil {
			if ack == nil {
				ack = oldAck
			} else {
				a := ack
				ack = func() { a(); oldAck() }
			}
		}
		room := max - len(notes)
		told := s.busyTold
		for _, n := range append(waiting, oldBusy...) {
			key := n.ID
			if n.Kind == queue.TakenOver {
				key = n.ID + " " + n.Addr
			}
			if !told[key] && room > 0 {
				notes, busyNow = append(notes, n), append(busyNow, key)
				room--
				if n.Kind == queue.TakenBusy {
					nBusy++
				}
			}
		}
	}
	handedNext, handedTold := s.handedAfter, false
	// Told whole once and acknowledged (the client recorded it before
	// its next command), a client is not walked for again while this
	// process runs: its predecessor hands nothing more, and the walk
	// reads the whole queue. A restart of this server tells it again.
	// Keyed by the database the client presents too: restored again
	// from a backup of the same database (the same FROM=), it holds the
	// copies for other primaries again and needs every line again.
	handedKey := mailaddr.NameKey(s.shadowServer) + "\x00" + from + "\x00" + s.shadowPeerDB
	_, handedWhole := s.srv.handedTold.Load(handedKey)
	if ht, ok := s.srv.shadow.(HandedHereTeller); ok && from != "" && !s.handedDone && !handedWhole && len(notes) < max {
		// The copies this client's predecessor (any database of the
		// client's) handed here in a shadow session that this server
		// holds or finished (queue restoredhanded.go): "TAKEN", after
		// every other line; the client settles its own copy of each,
		// never taking it over. No new version: a client of 22 that
		// does not know them finds no original under their ids.
		// Pages until the reply is full or the list ends: a page may
		// stop short of the room (a record's recipients are kept
		// whole), and the client reads a reply of fewer than max lines
		// as the end of the answer — a restored client then keeps this
		// server as answered for good (rrrestored40).
		handedNext = s.handedAfter
		for len(notes) < max {
			var handed []queue.TakenDone
			handed, handedNext = ht.HandedHereBy(s.shadowServer, handedNext, max-len(notes))
			notes, handedTold = append(notes, handed...), true
			if handedNext == "" || len(handed) == 0 {
				break
			}
		}
	}
	if len(notes) == 0 {
		if handedTold && handedNext == "" {
			s.handedAfter, s.handedDone = "", true
			srv := s.srv
			v.deferAck(func() { srv.handedTold.Store(handedKey, true) })
		}
		return "250 2.0.0 0 finished here"
	}
	lines := []string{fmt.Sprintf("250-2.0.0 %d finished here", len(notes))}
	for i, n := range notes {
		sep := "-"
		if i == len(notes)-1 {
			sep = " "
		}
		lines = append(lines, s.listLine(sep, n.Wire()))
	}
	if err := v.writeReply(lines...); err != nil {
		s.log.Info("what this server finished of the taken-over copies not told; told again", "primary", s.shadowServer, "err", err)
		return ""
	}
	if ack != nil {
		v.deferAck(ack) // forgotten once the peer speaks again
	}
	if handedTold {
		s.handedAfter, s.handedDone = handedNext, handedNext == ""
		if handedNext == "" {
			srv := s.srv
			v.deferAck(func() { srv.handedTold.Store(handedKey, true) })
		}
	}
	for _, id := range busyNow {
		if s.busyTold == nil {
			s.busyTold = map[string]bool{}
		}
		s.busyTold[id] = true
	}
	if len(notes) > nBusy {
		s.log.Info("returning primary told what this server finished of the copies it took over", "primary", s.shadowServer, "notes", len(notes)-nBusy)
	}
	if nBusy > 0 {
		s.log.Info("returning primary told a copy it took over is in delivery here: it keeps its original until this server's attempt ends",
			"primary", s.shadowServer, "copies", nBusy)
	}
	return ""
}

// untoldTaken appends to notes, up to max lines in all, the TAKEN lines of
// listed this session has not told yet (keyed as the FROM= lines are:
// id and address), and their keys to told.
func (s *session) untoldTaken(notes []queue.TakenDone, told []string, listed []queue.TakenDone, max int) ([]queue.TakenDone, []string) {
	for _, n := range listed {
		key := n.ID + " " + n.Addr
		if len(notes) >= max || s.busyTold[key] || slices.Contains(told, key) {
			continue
		}
		notes, told = append(notes, n), append(told, key)
	}
	return notes, told
}

// QueryTakenDone asks the shadow server what it finished of the copies
// it took over from this server's database (version 15; with an older
// peer nothing is asked and nil returned; with 16, held notes too). Up to max notes; the server
// forgets them once this client sends its next command, so the caller
// records them before that. A line that does not read is passed over.
//
// from, when not "", is the database id this server's database was
// restored from (queue.Store.Predecessor): a peer of version 22 also
// tells what concerns that database, the copies waiting there that it
// took over from it too ("<id> RCPT=<address> TAKEN").
func (c *Client) QueryTakenDone(max int, from string) ([]queue.TakenDone, error) {
	if c.ShadowVersion < 15 {
		return nil, nil
	}
	lines, err := c.command("XQUERYTAKENDONE " + takenDoneArgs(max, from, c.ShadowVersion))
	if err != nil {
		return nil, err
	}
	var notes []queue.TakenDone
	for _, l := range c.listed(lines)[1:] {
		if n, ok := queue.ParseTakenDone(strings.TrimSpace(l)); ok && shadowid.Valid(n.ID) {
			notes = append(notes, n)
		}
	}
	return notes, nil
}
