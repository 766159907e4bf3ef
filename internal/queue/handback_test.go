package queue

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// rt43 F4: a message held as poison here for an unreadable body, whose
// shadow copy hub-a holds, is given to hub-a: a version-10 query gets
// "<id> TAKEOVER" after the discards (a version-9 one does not), hub-a
// takes exactly that copy over in the commit that applies the batch, and
// the acknowledgement removes the poison record here. Nothing is left on
// one side only, and nothing twice.
func TestPoisonGivenToCopyHolder(t *testing.T) {
	p, qS, _, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS() // hub-a's deliveries would relay the taken-over copy again at once
	var poison *Message
	for _, pm := range messages(t, p.s) {
		if slices.ContainsFunc(pm.Rcpts, func(r Recipient) bool { return r.Addr == "b@c.example" && r.Status == Pending }) {
			poison = pm
		}
	}
	if poison == nil {
		t.Fatal("hub-b holds no record with b@ pending")
	}
	holder := ""
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		m, err := tx.Get(poison.ID)
		if err != nil {
			return err
		}
		m.State, m.LastError = Poison, "body unreadable: test"
		if err := tx.Put(m); err != nil {
			return err
		}
		holder, err = tx.handBackTx(m, p.clk.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if holder != "hub-a" {
		t.Fatalf("given to %q, want hub-a", holder)
	}
	if lines, _ := p.q.DiscardsPartial("hub-a", 100); slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, HandBackSuffix) }) {
		t.Fatalf("a version-9 query got a message given: %q", lines)
	}
	lines, ack := p.q.DiscardsHandBack("hub-a", 100)
	if want := poison.ShadowID + HandBackSuffix; !slices.Contains(lines, want) {
		t.Fatalf("lines %q, want %q among them", lines, want)
	}
	if _, err := qS.ShadowContact("hub-b", "db-b", lines); err != nil {
		t.Fatal(err)
	}
	got, err := qS.Message(m.ID)
	if err != nil {
		t.Fatalf("hub-a's copy is gone: %v", err)
	}
	if got.State == Shadow {
		t.Fatalf("hub-a's copy is still a copy: %+v", got.Rcpts)
	}
	for _, r := range got.Rcpts {
		if r.Addr == "b@c.example" && r.Status != Pending {
			t.Errorf("b@ at hub-a: %v, want pending (taken over)", r.Status)
		}
	}
	if _, err := p.q.Message(poison.ID); err != nil {
		t.Fatalf("hub-b's poison record went before hub-a had the batch: %v", err)
	}
	ack()
	if _, err := p.q.Message(poison.ID); err == nil {
		t.Fatal("hub-b's poison record is still there after hub-a took the message")
	}
	if lines, _ := p.q.DiscardsHandBack("hub-a", 100); len(lines) != 0 {
		t.Fatalf("lines after the acknowledgement: %q", lines)
	}
}

// A message given while poison and resumed by the operator before the
// holder asked is not given any more: no line goes out, and the entry
// is dropped (no acknowledgement would come for it).
func TestResumedPoisonNotGiven(t *testing.T) {
	p, _, _, _, _, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var id ID
	for _, pm := range messages(t, p.s) {
		if slices.ContainsFunc(pm.Rcpts, func(r Recipient) bool { return r.Addr == "b@c.example" && r.Status == Pending }) {
			id = pm.ID
		}
	}
	put := func(st State, give bool) {
		t.Helper()
		if err := p.s.Update(context.Background(), func(tx *Tx) error {
			m, err := tx.Get(id)
			if err != nil {
				return err
			}
			m.State = st
			if err := tx.Put(m); err != nil {
				return err
			}
			if give {
				_, err = tx.handBackTx(m, p.clk.Now())
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(Poison, true)
	put(Ready, false) // the operator's resume
	if lines, _ := p.q.DiscardsHandBack("hub-a", 100); slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, HandBackSuffix) }) {
		t.Fatalf("a resumed message was given: %q", lines)
	}
	put(Poison, false) // poison again without a give: the old entry must not come back
	if lines, _ := p.q.DiscardsHandBack("hub-a", 100); slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, HandBackSuffix) }) {
		t.Fatalf("a dropped entry was sent: %q", lines)
	}
}

// poison11's leftover: once the line "<id> TAKEOVER" went out, the
// holder may have taken the copy over (its commit comes before it speaks
// again); an operator's resume in that window, with the body readable
// again, would deliver the message here as well. The offer is committed
// before the line is returned, and a resume of an offered message is
// refused; the acknowledgement then removes the record.
func TestResumeRefusedWhileGivenToHolder(t *testing.T) {
	p, _, _, _, _, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var id ID
	for _, pm := range messages(t, p.s) {
		if slices.ContainsFunc(pm.Rcpts, func(r Recipient) bool { return r.Addr == "b@c.example" && r.Status == Pending }) {
			id = pm.ID
		}
	}
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		m, err := tx.Get(id)
		if err != nil {
			return err
		}
		m.State, m.LastError = Poison, "body unreadable: test"
		if err := tx.Put(m); err != nil {
			return err
		}
		_, err = tx.handBackTx(m, p.clk.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	lines, ack := p.q.DiscardsHandBack("hub-a", 100)
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, HandBackSuffix) }) {
		t.Fatalf("not given: %q", lines)
	}
	// The holder fetched the line; the operator resumes before it acks.
	err := p.q.ResumeMessage(context.Background(), id)
	if err == nil {
		t.Fatal("resume of a message offered to its copy's holder was accepted: both may deliver it")
	}
	if !strings.Contains(err.Error(), "hub-a") {
		t.Errorf("refusal %q does not name the holder", err)
	}
	if m, err := p.q.Message(id); err != nil || m.State != Poison {
		t.Fatalf("after the refused resume: %+v, %v; want still poison", m, err)
	}
	ack()
	if _, err := p.q.Message(id); err == nil {
		t.Fatal("the record is still here after the holder acknowledged")
	}
}
