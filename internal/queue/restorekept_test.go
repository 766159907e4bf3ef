package queue

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// restoreLossRig is an empty backup and a live database beside it, a
// manager over the live one that delivers nothing, and submit, which
// puts a copy on receipt of a message to rcpt whose shadow copy is on
// server (none for "") as ready — no delivery claims it meanwhile, and
// an operator's command finds it as it waits — or, quarantined by edit,
// through the quarantine's commit, which discards its copy.
type restoreLossRig struct {
	backup, path string
	s            *Store
	q            *Manager
}

func newRestoreLossRig(t *testing.T) *restoreLossRig {
	t.Helper()
	dir := t.TempDir()
	r := &restoreLossRig{backup: filepath.Join(dir, "backup.db"), path: filepath.Join(dir, "queue.db")}
	b, err := Open(r.backup, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if r.s, err = Open(r.path, Options{}); err != nil {
		t.Fatal(err)
	}
	r.q = NewManager(r.s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	return r
}

func (r *restoreLossRig) submit(t *testing.T, rcpt, server string, edit func(*Message)) *Message {
	t.Helper()
	ctx := context.Background()
	m := receiptCopy(r.s, rcpt)
	if server != "" {
		m.ShadowServer, m.ShadowID = server, m.OrgID
	}
	if edit != nil {
		edit(m)
	}
	if m.Quarantine != "" {
		if err := r.q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m.State = Ready
	if err := r.s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// SR-7, Q-5, OPS-3 (an outside check): db restore on a server with shadow
// servers counted a message as "kept by a shadow server" whenever its
// record named one — but a message held by the operator (message
// suspend) or kept in the quarantine had its copy discarded by the
// commit that held it, so no shadow server resubmits it to the new
// database id: the restore dropped it and said everything was safe. A
// message counts as kept elsewhere only when a holder keeps its copy
// now (CopyHolderOf, the server message show names): every other one
// the backup lacks is listed — held, quarantined, released from a hold
// (its mark), accepted with no copy, marked held here only, poison with
// no copy. Kept: a message whose copy is kept (ready or poison), and a
// held one whose copy another record here still needs (no discard was
// written for it).
func TestLostByRestoreListsEveryMessageNoShadowServerKeeps(t *testing.T) {
	r := newRestoreLossRig(t)
	backup, path, s, q := r.backup, r.path, r.s, r.q
	ctx := context.Background()
	submit := func(rcpt, server string, edit func(*Message)) *Message {
		t.Helper()
		return r.submit(t, rcpt, server, edit)
	}
	setState := func(m *Message, st State) {
		t.Helper()
		if err := s.Update(ctx, func(tx *Tx) error {
			got, err := tx.Get(m.ID)
			if err != nil {
				return err
			}
			got.State = st
			return tx.Put(got)
		}); err != nil {
			t.Fatal(err)
		}
	}
	kept := submit("kept@b.example", "hub-c", nil)
	held := submit("held@b.example", "hub-c", nil)
	if err := q.SuspendMessage(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	quarantined := submit("quar@b.example", "hub-c", func(m *Message) { m.Quarantine = "milter: spam" })
	released := submit("released@b.example", "hub-c", nil)
	if err := q.SuspendMessage(ctx, released.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.ResumeMessage(ctx, released.ID); err != nil {
		t.Fatal(err)
	}
	submit("nocopy@b.example", "", nil)
	poisonKept := submit("poisonkept@b.example", "hub-c", nil)
	setState(poisonKept, Poison)
	poisonAlone := submit("poisonalone@b.example", "", nil)
	setState(poisonAlone, Poison)
	// Two records under one copy (siblingcopy.go): the hold of one
	// writes no discard, the other still needs the copy.
	sibA := submit("siba@b.example", "hub-c", nil)
	sibB := submit("sibb@b.example", "hub-c", func(m *Message) { m.OrgID, m.ShadowID = sibA.OrgID, sibA.OrgID })
	if err := q.SuspendMessage(ctx, sibA.ID); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Message{held, quarantined, sibA} {
		want := ""
		if m == sibA {
			want = "hub-c"
		}
		if got := q.CopyHolderOf(m.ID); got != want {
			t.Fatalf("CopyHolderOf(%s) = %q, want %q", m.Rcpts[0].Addr, got, want)
		}
	}
	s.Close()
	got, known, err := LostByRestore(backup, path)
	if err != nil || !known {
		t.Fatalf("LostByRestore: known %v, %v", known, err)
	}
	var listed []string
	for _, l := range got {
		listed = append(listed, l.Pending...)
		// Each says why no shadow server keeps it, as message show does.
		if l.ID == held.ID && l.Why != "held by the operator (message suspend): its shadow copy on hub-c was discarded when it was held" ||
			l.ID == quarantined.ID && !strings.HasPrefix(l.Why, "quarantined: its shadow copy on hub-c was discarded") ||
			l.ID == released.ID && !strings.Contains(l.Why, "discarded when the message was held") || l.Why == "" {
			t.Errorf("%s listed because %q", l.Pending, l.Why)
		}
	}
	slices.Sort(listed)
	want := []string{"held@b.example", "nocopy@b.example", "poisonalone@b.example", "quar@b.example", "released@b.example"}
	if !slices.Equal(listed, want) {
		t.Fatalf("LostByRestore lists %v; want %v (kept by hub-c: %s, %s, %s, %s)", listed, want,
			kept.Rcpts[0].Addr, poisonKept.Rcpts[0].Addr, sibA.Rcpts[0].Addr, sibB.Rcpts[0].Addr)
	}
}
