package queue

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// rt48 F2: hub-b's record of a message whose shadow copy hub-a holds
// is damaged past its head (its recipients overwritten). The commit that
// sets it aside gives the message to hub-a, as for a poison message
// whose body is unreadable: remove without --force is refused naming
// hub-a (a dry run too), message show names hub-a, hub-a takes its copy
// over when it applies the batch, and the acknowledgement removes the
// damaged record here.
func TestDamagedRecordGivenToCopyHolder(t *testing.T) {
	p, qS, _, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS() // hub-a's deliveries would relay the taken-over copy again at once
	var rec *Message
	for _, pm := range messages(t, p.s) {
		if slices.ContainsFunc(pm.Rcpts, func(r Recipient) bool { return r.Addr == "b@c.example" && r.Status == Pending }) {
			rec = pm
		}
	}
	if rec == nil || rec.ShadowServer != "hub-a" {
		t.Fatalf("hub-b holds no record with b@ pending and a copy on hub-a: %+v", rec)
	}
	var d DamagedRecord
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		raw := tx.RawRecord(rec.ID)
		copy(raw[len(raw)-12:], bytes.Repeat([]byte{0xff}, 12)) // its last recipient's fields
		if err := tx.messages.Put(rec.ID.Key(), raw); err != nil {
			return err
		}
		var err error
		d, err = tx.setAsideOne(rec.ID, p.clk.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if d.GivenTo != "hub-a" || !strings.Contains(d.LogText(), "hub-a") {
		t.Fatalf("set aside: given to %q, log %q; want hub-a", d.GivenTo, d.LogText())
	}
	if v, err := p.q.Message(rec.ID); err != nil || v.State != Damaged || v.ShadowServer != "hub-a" {
		t.Fatalf("show: %+v %v; want damaged, naming hub-a", v, err)
	}
	dry := p.q.CheckRemove(rec.ID, false)
	if dry == nil || !strings.Contains(dry.Error(), "hub-a") || !strings.Contains(dry.Error(), "--force") {
		t.Fatalf("dry run of remove: %v; want a refusal naming hub-a and --force", dry)
	}
	if err := p.q.RemoveMessage(context.Background(), rec.ID, false); err == nil || err.Error() != dry.Error() {
		t.Fatalf("remove: %v; the dry run said %v", err, dry)
	}
	if lines, _ := p.q.DiscardsPartial("hub-a", 100); slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, HandBackSuffix) }) {
		t.Fatalf("a version-9 query got a message given: %q", lines)
	}
	lines, ack := p.q.DiscardsHandBack("hub-a", 100)
	if want := rec.ShadowID + HandBackSuffix; !slices.Contains(lines, want) {
		t.Fatalf("lines %q, want %q among them", lines, want)
	}
	if _, err := qS.ShadowContact("hub-b", "db-b", lines); err != nil {
		t.Fatal(err)
	}
	got, err := qS.Message(m.ID)
	if err != nil || got.State == Shadow {
		t.Fatalf("hub-a's copy after the batch: %+v %v; want it taken over", got, err)
	}
	// The holder cannot tell a damaged record from an unreadable body
	// (the line says neither): it does not claim the body.
	for _, r := range got.Rcpts {
		if strings.Contains(r.LastReply, "its body there is unreadable") {
			t.Errorf("the copy taken over reads %q: hub-b's body was sound, its record damaged", r.LastReply)
		}
	}
	if _, ok := p.q.damagedRecord(rec.ID); !ok {
		t.Fatal("hub-b's damaged record went before hub-a had the batch")
	}
	ack()
	if _, ok := p.q.damagedRecord(rec.ID); ok {
		t.Fatal("hub-b's damaged record is still there after hub-a took the message")
	}
	if lines, _ := p.q.DiscardsHandBack("hub-a", 100); len(lines) != 0 {
		t.Fatalf("lines after the acknowledgement: %q", lines)
	}
}

// A record damaged in its head too (its id, state and sender
// overwritten): no holder can be named. message show says so; nothing
// is given; remove goes through as before (the README says what is lost).
func TestDamagedHeadNamesNoHolder(t *testing.T) {
	p, _, _, _, _, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var rec *Message
	for _, pm := range messages(t, p.s) {
		if pm.ShadowServer == "hub-a" {
			rec = pm
		}
	}
	if rec == nil {
		t.Fatal("hub-b holds no record with a copy on hub-a")
	}
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		raw := tx.RawRecord(rec.ID)
		copy(raw[1:], bytes.Repeat([]byte{0xff}, 20))
		if err := tx.messages.Put(rec.ID.Key(), raw); err != nil {
			return err
		}
		d, err := tx.setAsideOne(rec.ID, p.clk.Now())
		if d.GivenTo != "" {
			t.Errorf("given to %q with its head damaged", d.GivenTo)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	v, err := p.q.Message(rec.ID)
	if err != nil || v.ShadowServer != "" || !strings.Contains(v.LastError, "cannot be read") {
		t.Fatalf("show: %+v %v; want no holder and why", v, err)
	}
	if lines, _ := p.q.DiscardsHandBack("hub-a", 100); slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, HandBackSuffix) }) {
		t.Fatalf("given with its head damaged: %q", lines)
	}
	if err := p.q.RemoveMessage(context.Background(), rec.ID, false); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove: %v", err)
	}
}
