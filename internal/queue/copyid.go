package queue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"
)

// One transaction, one shadow id (doc.go, "One writer per message").
// A discard settles every recipient shadowed under the id it names, so
// the id must name no more than the primary's record the discard is for.
// The id of version 7 and earlier, "<message id>-<hash of the primary>",
// names the message and the primary: every transaction of the message
// to that primary shares it — the attempts before and after a crash that
// lost the results, two jobs of one attempt, an attempt after a
// recipient's 452 — and a discard for one of those records, fetched
// while another is being made, settled the other's copy too. To a
// primary that speaks version 8 each transaction gets an id of its own,
// "<message id>-<hash of the primary>-<12 random hex digits>": random,
// so that an attempt repeated after a kill -9, which has no record of
// the lost one, still gets a new id. A discard then names exactly the
// record it is for, whatever the order of the commits here and there.
//
// A taken-over copy of a relay sent back to its own primary keeps the id
// it was taken over under when every recipient of the transaction was
// taken over from that one copy: the primary, back with its old database,
// merges it into its original (mergeHeld), whose own discard — naming
// that id — then settles it. Merged under another id, the copy would be
// settled by the merge's discard while the original still needs it; so
// a version-8 primary merges a copy named per transaction only into an
// original under the same id (sameCopy), and keeps any other as a
// record of its own: a duplicate at worst, never a copy dropped early.
// The taken-over id goes back to a primary below version 8 too: one
// rolled back after it stored the copy keeps the original under that id,
// and it merges a copy into its original whatever the id, owing the
// copy's discard at once when the ids differ — the copy here dropped
// while the original still needs it. Under the same id its original's
// discard settles it, as between version-8 servers.
//
// Only to the database the copy was taken over under (Message.CopyUnder;
// one under no known database keeps the rule): a primary back with
// another database holds no original to merge it into, and the relay
// is a new copy made against that database. Under the old id it shared
// the id of the recipients taken over with it that stay here under the
// old database — the index of taken-over copies keeps one value per
// copy id (takenEntry), so a second takeover of the new copy was filed
// under the old database: never given back to the new one and settled
// by nothing it said, both servers delivered it.

// RelayShadowID is the shadow id this server gives the copy of m it
// relays to primary in one shadow-session transaction (W-3), carrying
// the recipients rcpts; dbID is the transport database the primary
// presented in its XSHADOW reply. perTransaction says the primary speaks
// shadow verb version 8 or later; an older one gets the id of version 7
// — but for a taken-over copy sent back to the database it was taken
// over under, which keeps its id (takenOverID), and unless that id names
// a copy taken over under another database (takenUnderAnother).
func RelayShadowID(m *Message, rcpts []int, primary, dbID string, perTransaction bool) string {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if sid := takenOverID(m, rcpts, primary, dbID); sid != "" {
		return sid
	}
	base := m.ID.String() + "-" + primaryHash(primary)
	if !perTransaction && !takenUnderAnother(m, primary, base, dbID) {
		return base
	}
	var b [6]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return base + "-" + hex.EncodeToString(b[:])
}

// takenOverID is the shadow id every recipient of rcpts was taken over
// under from primary's copy of a relay of m, or "" when not all were, or
// not from one copy, or that copy was taken over under another database
// than dbID (Message.CopyUnder). A copy on receipt taken over (its id
// the org id) gets an id of its own: a relay under the org id would make
// its copy here look like a copy on receipt.
func takenOverID(m *Message, rcpts []int, primary, dbID string) string {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	sid := ""
	for _, i := range rcpts {
		if i < 0 || i >= len(m.Rcpts) {
			return ""
		}
		r := &m.Rcpts[i]
		if r.Status != Pending || r.Primary != primary || !strings.HasPrefix(r.ShadowID, m.ID.String()+"-") ||
			sid != "" && r.ShadowID != sid {
			return ""
		}
		if takenUnderAnother(m, primary, r.ShadowID, dbID) {
			return ""
		}
		sid = r.ShadowID
	}
	return sid
}

// takenUnderAnother reports whether m holds the copy sid taken over from
// primary under a database other than dbID (Message.CopyUnder). The id
// of version 7 names every relay of m to primary: a relay to it back on
// another database under that id would share it with the recipients
// still taken over under the old one (the index keeps one value per
// copy id), so it gets one of its own, in the form of version 8 — any id
// of W-3's characters is the shadow server's to choose.
func takenUnderAnother(m *Message, primary, sid, dbID string) bool {
	under := m.CopyUnder[giveBackKey(primary, sid)]
	return under != "" && under != dbID
}

// PerTransactionID is perTransactionID for the delivery side.
func PerTransactionID(sid string) bool { return perTransactionID(sid) }

// perTransactionID reports whether sid has the form of a version-8
// relay's id, "<16 hex>-<8 hex>-<12 hex>": a copy named by its
// transaction.
func perTransactionID(sid string) bool {
	parts := strings.Split(sid, "-")
	if len(parts) != 3 || len(parts[0]) != 16 || len(parts[1]) != 8 || len(parts[2]) != 12 {
		return false
	}
	for _, p := range parts {
		if _, err := hex.DecodeString(p); err != nil {
			return false
		}
	}
	return true
}

// primaryHash is the short hash of a primary in a relay's shadow id.
func primaryHash(primary string) string {
	h := fnv.New32a()
	h.Write([]byte(primary))
	return fmt.Sprintf("%08x", h.Sum32())
}
