package queue

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt19e F4: the commit of a taken-over copy's results notes, under the
// primary's database id, the recipients it delivered, relayed by MX or
// through a smart host that is no server of the organisation (rt20f F3:
// delivery says so, Result.LeftOrg), or failed — not one handed to a
// transport server in a shadow session or relayed through a smart host
// that may be one (either may be the primary itself, whose original
// merged the copy and still owes the recipient) — and the returning
// primary marks those done without a DSN; the notes go once told (ack),
// or with their lifetime.
func TestTakenDoneNotedAndApplied(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	rcpts := []string{"f@x.example", "d@x.example", "r@x.example", "s@x.example", "h@x.example", "p@x.example", "o@x.example"}

	// The shadow server: a copy on receipt from hub-a (database dbA),
	// taken over for failed heartbeats, then attempted.
	sS := openTest(t)
	var on atomic.Bool
	dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if !on.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "smarthost:out", Reply: "451 4.4.1 down"})
				continue
			}
			switch strings.SplitN(m.Rcpts[i].Addr, "@", 2)[0] {
			case "f":
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Queue: "smarthost:out", Reply: "550 5.1.1 no such user"})
			case "d":
				out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:x", Reply: "250 ok"})
			case "r":
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:x.example", Reply: "250 ok"})
			case "s":
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "smarthost:out", Reply: "250 ok"})
			case "o":
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "smarthost:out", Reply: "250 ok", LeftOrg: true})
			case "h":
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:a", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: "c-1", Reply: "250 ok"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "smarthost:out", Reply: "451 4.4.1 later"})
			}
		}
		return out
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	c := msg(sS, "s@example.org", rcpts...)
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := qS.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	on.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); qS.Wait() }()
	qS.Start(runCtx)
	waitFor(t, "the taken-over copy's attempt", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Attempts >= 1 && len(got.Pending()) == 1
	})
	if n, _ := qS.TakenDoneFor("dbB", 10); n != nil {
		t.Fatalf("notes for another database: %+v", n)
	}
	notes, ack := qS.TakenDoneFor("dbA", 10)
	got := map[string]byte{}
	for _, n := range notes {
		if n.ID != org {
			t.Errorf("note %+v names another copy than %s", n, org)
		}
		got[n.Addr] = n.Kind
	}
	if want := map[string]byte{"f@x.example": TakenFailed, "d@x.example": TakenDelivered, "r@x.example": TakenRelayed, "o@x.example": TakenRelayed}; len(got) != len(want) ||
		got["f@x.example"] != TakenFailed || got["d@x.example"] != TakenDelivered || got["r@x.example"] != TakenRelayed || got["o@x.example"] != TakenRelayed {
		t.Fatalf("notes %+v, want %+v", notes, want)
	}

	// The returning primary: its original, whose copy hub-b keeps.
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", rcpts...)
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	// Written as it stands, before any attempt: Submit would start one,
	// whose commit races the states this test writes.
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-c", notes); err != nil || len(fe) != 0 {
		t.Fatalf("notes from a server that does not keep the copy changed %d recipients (%v)", len(fe), err)
	}
	// In delivery here: left to its attempt's commit, and counted, so
	// that the probe ends its session without a command (the holder
	// tells the notes again).
	setState(t, pS, o.ID, Active)
	if fe, busy, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(fe) != 0 || busy != 1 {
		t.Fatalf("a record in delivery: %d changed, %d in delivery (%v); want 0 and 1", len(fe), busy, err)
	}
	setState(t, pS, o.ID, Ready)
	fe, _, err := qP.ShadowFinishedElsewhere("hub-b", notes)
	if err != nil || len(fe) != 4 {
		t.Fatalf("finished elsewhere: %d, %v; want 4", len(fe), err)
	}
	ack()
	if n, _ := qS.TakenDoneFor("dbA", 10); n != nil {
		t.Fatalf("notes left after the primary had them: %+v", n)
	}
	m, err := qP.Message(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	var pending []string
	for _, i := range m.Pending() {
		pending = append(pending, m.Rcpts[i].Addr)
	}
	if want := []string{"s@x.example", "h@x.example", "p@x.example"}; !slices.Equal(pending, want) {
		t.Fatalf("pending at the primary: %q, want %q", pending, want)
	}
	if m.Rcpts[0].Status != Failed || m.Rcpts[1].Status != Relayed || m.Rcpts[2].Status != Relayed || m.Rcpts[6].Status != Relayed {
		t.Fatalf("statuses %s %s %s %s, want failed relayed relayed relayed", m.Rcpts[0].Status, m.Rcpts[1].Status, m.Rcpts[2].Status, m.Rcpts[6].Status)
	}
	// The last recipients finished there: the message ends, no DSN made.
	rest := []TakenDone{{ID: org, Addr: "s@x.example", Kind: TakenRelayed}, {ID: org, Addr: "H@x.example", Kind: TakenFailed},
		{ID: org, Addr: "p@x.example", Kind: TakenFailed}, {ID: org, Kind: TakenDelayed}}
	// H@ names h@ (rcptMatch: no recipient spelled H@, one equal in
	// ASCII case): a copy spelling it otherwise gets no second DSN.
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", rest); err != nil || len(fe) != 4 {
		t.Fatalf("the rest: %d, %v; want 4 (H@ names h@, the one recipient equal in case)", len(fe), err)
	}
	if _, err := qP.Message(o.ID); err == nil {
		t.Fatal("the original stays with every recipient finished elsewhere")
	}
	n := 0
	pS.View(func(tx *Tx) error {
		tx.ForEach(func(*Message, error) bool { n++; return true })
		return nil
	})
	if n != 0 {
		t.Fatalf("%d messages left at the primary (a DSN?), want none", n)
	}

	// Pruned with their lifetime (message_expiration + 1 h).
	if err := sS.Update(ctx, func(tx *Tx) error {
		return tx.tx.Bucket(bucketTakenDone).Put(takenDoneKey("dbA", "old", "z@x.example"), append(make([]byte, 8), TakenFailed))
	}); err != nil {
		t.Fatal(err)
	}
	var pruned int
	if err := sS.Update(ctx, func(tx *Tx) error {
		var err error
		pruned, err = tx.pruneTakenDone(clk.Now(), 100)
		return err
	}); err != nil || pruned != 1 {
		t.Fatalf("pruned %d (%v), want the old note", pruned, err)
	}
}

// A record whose recipients all finished at the shadow server that took
// its copy over, but that also keeps a shadow copy for another primary
// (a recipient Shadowed), stays as that copy: the other primary counts
// it (SR- shadow redundancy: two disks). Its own copy's discard is
// written all the same.
func TestTakenDoneKeepsShadowedRecipients(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "a@x.example", "b@x.example", "k@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	// Written as it stands, before any attempt: Submit would start one.
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	o.Rcpts[2].Status, o.Rcpts[2].Primary, o.Rcpts[2].PrimaryAddr, o.Rcpts[2].ShadowID = Shadowed, "hub-c", "127.0.0.3:25", "c-1"
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	notes := []TakenDone{{ID: org, Addr: "a@x.example", Kind: TakenDelivered}, {ID: org, Addr: "b@x.example", Kind: TakenRelayed}}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(fe) != 2 {
		t.Fatalf("finished elsewhere: %d, %v; want 2", len(fe), err)
	}
	m, err := qP.Message(o.ID)
	if err != nil {
		t.Fatalf("the record keeping hub-c's copy is gone: %v", err)
	}
	if m.Rcpts[2].Status != Shadowed || m.State != Shadow {
		t.Fatalf("kept copy: recipient %s, state %s; want shadowed, shadow", m.Rcpts[2].Status, m.State)
	}
	if ids, _ := qP.Discards("hub-b", 10); !slices.Equal(ids, []string{org}) {
		t.Fatalf("discards owed to hub-b: %q, want %q", ids, org)
	}
}

// A note names a recipient of the copy the shadow server took over: the
// records found are the originals of that copy (by its org id), not a
// failure DSN here that carries the copy's discard (its ShadowID is the
// original's org id) and goes to the sender, who was also a recipient:
// that DSN is still owed, whatever became of the sender's own copy.
func TestTakenDoneSparesDSNCarryingTheCopy(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	dsn := msg(pS, "", "s@example.org")
	dsn.ShadowServer, dsn.ShadowID, dsn.Arrived = "hub-b", org, clk.Now()
	dsn.State, dsn.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(dsn, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if dsn.OrgID == org {
		t.Fatal("fixture: the DSN has the original's org id")
	}
	notes := []TakenDone{{ID: org, Addr: "s@example.org", Kind: TakenDelivered}}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(fe) != 0 {
		t.Fatalf("finished elsewhere: %d, %v; want the DSN left alone", len(fe), err)
	}
	if m, err := qP.Message(dsn.ID); err != nil || len(m.Pending()) != 1 {
		t.Fatalf("the DSN: %+v, %v; want it pending", m, err)
	}
}
