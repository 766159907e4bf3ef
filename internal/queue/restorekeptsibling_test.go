package queue

import (
	"context"
	"strings"
	"testing"
)

// OPS-3, SR-13: a held message whose copy another record here still
// needed (siblingcopy.go: its hold wrote no discard) is kept elsewhere
// only while that copy exists. When the holder's copy is lost (it meets
// the holder with a new database id: the sibling is marked held by this
// server only), no shadow server keeps the held message either: message
// show must not name the holder, and a restore must list it.
func TestLostByRestoreListsHeldSiblingWhoseSharedCopyWasLost(t *testing.T) {
	r := newRestoreLossRig(t)
	backup, path, s, q := r.backup, r.path, r.s, r.q
	ctx := context.Background()
	put := func(rcpt string, edit func(*Message)) *Message {
		t.Helper()
		return r.submit(t, rcpt, "hub-c", edit)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "db-c-1"); err != nil {
		t.Fatal(err)
	}
	sibA := put("siba@b.example", nil)
	sibB := put("sibb@b.example", func(m *Message) { m.OrgID, m.ShadowID = sibA.OrgID, sibA.OrgID })
	if err := q.SuspendMessage(ctx, sibA.ID); err != nil {
		t.Fatal(err)
	}
	if got := q.CopyHolderOf(sibA.ID); got != "hub-c" {
		t.Fatalf("before the loss: CopyHolderOf(held) = %q, want hub-c", got)
	}
	// hub-c lost its database: the copy both records shared is gone.
	if lost, _, err := q.ShadowHolderSeen("hub-c", "db-c-2"); err != nil || lost == 0 {
		t.Fatalf("ShadowHolderSeen: lost %d, %v", lost, err)
	}
	if got := q.CopyHolderOf(sibB.ID); got != "" {
		t.Fatalf("CopyHolderOf(sibling marked single) = %q, want none", got)
	}
	if got := q.CopyHolderOf(sibA.ID); got != "" {
		t.Errorf("CopyHolderOf(held, its shared copy lost with hub-c's database) = %q, want none", got)
	}
	s.Close()
	got, known, err := LostByRestore(backup, path)
	if err != nil || !known {
		t.Fatalf("LostByRestore: known %v, %v", known, err)
	}
	listed := map[ID]string{}
	for _, l := range got {
		listed[l.ID] = l.Why
	}
	if _, ok := listed[sibB.ID]; !ok {
		t.Errorf("the sibling marked single is not listed: %v", got)
	}
	if why, ok := listed[sibA.ID]; !ok {
		t.Errorf("the held message whose only copy went with hub-c's database is not listed: the restore drops it (%v)", got)
	} else if strings.Contains(why, "discarded") {
		t.Errorf("the held message is listed because %q: its hold discarded nothing (its sibling needed the copy)", why)
	}
}

// OPS-3, SR-13: a DSN this server made, with no shadow copy, is listed
// as what it is, not as a message "accepted with no shadow copy".
func TestLostByRestoreSaysADSNMadeHereIsOne(t *testing.T) {
	r := newRestoreLossRig(t)
	backup, path, s := r.backup, r.path, r.s
	ctx := context.Background()
	dm := msg(s, "", "sender@b.example")
	dm.Connector, dm.Internal, dm.ClientIP, dm.State = "dsn", true, "", Ready
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(dm, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, known, err := LostByRestore(backup, path)
	if err != nil || !known || len(got) != 1 {
		t.Fatalf("LostByRestore: %v, known %v, %v", got, known, err)
	}
	if strings.HasPrefix(got[0].Why, "accepted") {
		t.Errorf("a DSN made here is listed because %q", got[0].Why)
	}
}

// OPS-3, SR-13: a held message whose
// copy its sibling needed (no discard at the hold) and whose shared copy
// was lost while it was held (the holder's new database marked the
// sibling, not the held one) is resumed unmarked, naming the lost
// holder: no view says it is on this disk alone, nothing makes its copy
// again, and a restore drops it.
func TestResumeMarksHeldSiblingWhoseSharedCopyWasLost(t *testing.T) {
	r := newRestoreLossRig(t)
	backup, path, s, q := r.backup, r.path, r.s, r.q
	ctx := context.Background()
	put := func(rcpt string, edit func(*Message)) *Message {
		t.Helper()
		return r.submit(t, rcpt, "hub-c", edit)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "db-c-1"); err != nil {
		t.Fatal(err)
	}
	sibA := put("siba@b.example", nil)
	put("sibb@b.example", func(m *Message) { m.OrgID, m.ShadowID = sibA.OrgID, sibA.OrgID })
	if err := q.SuspendMessage(ctx, sibA.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "db-c-2"); err != nil {
		t.Fatal(err)
	}
	if err := q.ResumeMessage(ctx, sibA.ID); err != nil {
		t.Fatal(err)
	}
	if got := q.CopyHolderOf(sibA.ID); got != "" {
		t.Errorf("CopyHolderOf(resumed, its shared copy lost with hub-c's database) = %q, want none", got)
	}
	s.Close()
	got, _, err := LostByRestore(backup, path)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range got {
		found = found || l.ID == sibA.ID
	}
	if !found {
		t.Errorf("the resumed message whose only copy went with hub-c's database is not listed: the restore drops it (%v)", got)
	}
}
