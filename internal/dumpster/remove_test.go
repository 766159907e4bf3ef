package dumpster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// An operator removes copies from the dumpster — one misdirected
// message by its id, or what a filter selects — and a removed copy is
// gone for good: a later redelivery request does not bring it back. A
// dry run selects without removing; an empty selection is refused.
func TestRemoveCopies(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	for i := 1; i <= 4; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	r.send(9, 300, "db2-carol@example.test")
	ctx := context.Background()
	idOf := func(db, mid string) queue.ID {
		es, _ := r.d.List(db, time.Time{}, 0)
		for _, e := range es {
			if e.MessageID == mid {
				id, err := queue.ParseID(e.QueueID)
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
		}
		t.Fatalf("no copy of %s in %s", mid, db)
		return 0
	}

	got, err := r.d.Remove(ctx, Selection{IDs: []queue.ID{idOf("DB1", "<2@test>")}}, false)
	if err != nil || len(got) != 1 || got[0].MessageID != "<2@test>" || got[0].Database != "DB1" {
		t.Fatalf("remove by id: %+v %v", got, err)
	}
	if k := strings.Join(r.kept("DB1"), " "); k != "1 3 4" {
		t.Fatalf("kept %q after removing 2", k)
	}
	if n := r.obs.get(ReasonRemoved); n != 1 {
		t.Errorf("evictions counted as removed: %d, want 1", n)
	}

	sel := Selection{Database: "DB1", MessageID: "<3@test>"}
	if got, err := r.d.Remove(ctx, sel, true); err != nil || len(got) != 1 || got[0].MessageID != "<3@test>" {
		t.Fatalf("dry run: %+v %v", got, err)
	}
	if k := strings.Join(r.kept("DB1"), " "); k != "1 3 4" {
		t.Fatalf("a dry run removed: kept %q", k)
	}
	if got, err := r.d.Remove(ctx, sel, false); err != nil || len(got) != 1 {
		t.Fatalf("remove by filter: %+v %v", got, err)
	}
	// A time range and a recipient substring; nothing in DB2 is touched.
	if got, err := r.d.Remove(ctx, Selection{Database: "DB1", Since: t0.Add(3 * time.Minute), To: "BOB@"}, false); err != nil || len(got) != 1 || got[0].MessageID != "<4@test>" {
		t.Fatalf("remove since 3m, to bob: %+v %v", got, err)
	}
	if k := strings.Join(r.kept("DB1"), " ") + "|" + strings.Join(r.kept("DB2"), " "); k != "1|9" {
		t.Fatalf("kept %q", k)
	}
	if _, err := r.d.Remove(ctx, Selection{}, false); !errors.Is(err, ErrEmptySelection) {
		t.Fatalf("an empty selection: %v", err)
	}
	if got, err := r.d.Remove(ctx, Selection{IDs: []queue.ID{12345}}, false); err != nil || len(got) != 0 {
		t.Fatalf("an unknown id: %+v %v", got, err)
	}

	// The removed copies are not redelivered.
	r.clk.Advance(time.Minute)
	req, _, err := r.d.Redeliver(ctx, "after-remove", "DB1", t0)
	if err != nil || req.Resubmitted != 1 {
		t.Fatalf("redelivery after removal: %+v %v; want only message 1", req, err)
	}
	r.waitEmpty()
	for mid, want := range map[string]int{"<1@test>": 2, "<2@test>": 1, "<3@test>": 1, "<4@test>": 1} {
		if got := r.copies(mid + "|bob@example.test"); got != want {
			t.Errorf("%s delivered %d times, want %d", mid, got, want)
		}
	}
}
