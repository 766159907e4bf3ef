package shadow

import "testing"

// SR-7 (shadow30 item 5): a primary's copies are stored under the name
// its sessions state (Hub-B, as spelt there); a refused relay or copy
// on receipt names it as the topology spells it (hub-b). The digest
// that refused session presented is judged against the stored primary
// whatever the spelling: its own digest makes the refusal the
// primary's, another takes its copies over at once.
func TestRefusalDigestJudgedUnderAnotherSpellingOfTheName(t *testing.T) {
	m, fs, _, _ := setup()
	fs.ps["Hub-B"] = fs.ps["hub-b"]
	delete(fs.ps, "hub-b")
	fs.ps["Hub-B"].Name, fs.ps["Hub-B"].DatabaseID = "Hub-B", "db1"
	fs.copies["Hub-B"] = true
	m.rec.SessionRefused("hub-b", SessionRelay, "535 5.7.8 Authentication failed", "D:db1")
	if _, _, _, ok := m.rec.Refusal("Hub-B"); !ok {
		t.Error("a refusal presenting Hub-B's own digest, named hub-b, not taken as Hub-B's")
	}
	m.rec.SessionRefused("HUB-B.", SessionRelay, "535 5.7.8 Authentication failed", "D:db2")
	if tk := fs.taken(); len(tk) != 1 {
		t.Errorf("a refusal presenting another digest, named HUB-B.: takeovers %v, want Hub-B's copies taken over (SR-7)", tk)
	}
}
