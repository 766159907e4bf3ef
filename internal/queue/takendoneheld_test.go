package queue

import "testing"

// rt22a M2: a chain of takeovers. This server took hub-a's copy over,
// made its own copy again on hub-c while its attempt hung (the record
// does not name hub-c yet: the mark keeps it, heldPrefix), and was
// killed; hub-c took that copy over and relayed a recipient by MX. Back
// with its database, this server hears hub-c's note (under the org id
// it pushed the copy by): that recipient is done here without being
// sent again, as for an original that names its holder.
func TestTakenDoneReachesCopyMadeAgainWhileInDelivery(t *testing.T) {
	q, s, clk := idleManager(t)
	m := takenReceiptCopies(t, q, s, clk, 1, "n@mx.example", "k@mx.example")[0]
	setState(t, s, m.ID, Active)
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "hub-c" {
		t.Fatalf("fixture: mark %+v, %v; want hub-c held while in delivery", sc, ok)
	}
	setState(t, s, m.ID, Ready) // the start's recovery: attempted again
	notes := []TakenDone{{ID: m.OrgID, Addr: "n@mx.example", Kind: TakenRelayed}}
	if fe, _, err := q.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(fe) != 0 {
		t.Fatalf("a server that holds no copy of it: %d changed (%v)", len(fe), err)
	}
	fe, _, err := q.ShadowFinishedElsewhere("hub-c", notes)
	if err != nil || len(fe) != 1 {
		t.Fatalf("hub-c's note: %d changed (%v); want n@ finished elsewhere, not relayed again", len(fe), err)
	}
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Pending {
		t.Fatalf("statuses %s %s, want relayed (there) and pending", got.Rcpts[0].Status, got.Rcpts[1].Status)
	}
	// The last one: the message ends here.
	if fe, _, err := q.ShadowFinishedElsewhere("hub-c", []TakenDone{{ID: m.OrgID, Addr: "k@mx.example", Kind: TakenFailed}}); err != nil || len(fe) != 1 {
		t.Fatalf("the last note: %d changed (%v)", len(fe), err)
	}
	if _, err := q.Message(m.ID); err == nil {
		t.Fatal("the record stays with every recipient finished at hub-c")
	}
}
