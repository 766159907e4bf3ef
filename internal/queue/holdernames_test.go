package queue

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// rt21a H1: the primary's topology misspells its shadow server hub-b as
// hub-b2 for a while. Pushes under hub-b2 met hub-b's transport
// database (an alias, recorded with the refusal), and what is owed for
// those copies is filed under hub-b2. hub-b, asking under its own name,
// is owed those notifications (full and partial) and is never told that
// the primary is done with a copy it still needs under hub-b2
// (XQUERYHELD); a server of another database is owed none of them.
func TestNotificationsOwedUnderAliasReachHolder(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
		t.Fatal(err)
	}
	var another *DatabaseOfAnotherError
	if _, _, err := q.ShadowHolderSeen("Hub-B2", "dbB"); !errors.As(err, &another) {
		t.Fatalf("hub-b's id under Hub-B2: err %v, want it refused (an alias)", err)
	}
	pending := msg(s, "a@example.org", "x@example.test")
	pending.State, pending.ShadowServer, pending.ShadowID = Ready, "Hub-B2", "typo-pending"
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(pending, []byte(body)); err != nil {
			return err
		}
		if err := tx.AddDiscard("Hub-B2", "typo-done", time.Now()); err != nil {
			return err
		}
		if err := tx.AddDiscard("hub-b", "own-done", time.Now()); err != nil {
			return err
		}
		return tx.AddPartialDiscard("Hub-B2", "typo-part", []string{"y@example.test"}, time.Now())
	}); err != nil {
		t.Fatal(err)
	}

	lines, ack := q.DiscardsPartial("hub-b", 100)
	want := []string{"own-done", "typo-done", PartialDiscard{"typo-part", "y@example.test"}.Wire()}
	if !slices.Equal(lines, want) {
		t.Fatalf("owed to hub-b: %v, want %v", lines, want)
	}
	if lines, _ := q.DiscardsPartial("hub-c", 100); len(lines) != 0 {
		t.Fatalf("owed to hub-c (another database): %v, want none", lines)
	}
	ack()
	if lines, _ := q.DiscardsPartial("hub-b", 100); len(lines) != 0 {
		t.Fatalf("owed to hub-b after its acknowledgement: %v, want none", lines)
	}

	done, err := q.ShadowHeld("hub-b", []string{"typo-pending", "typo-done"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []string{"typo-done"}) {
		t.Fatalf("XQUERYHELD of hub-b: done %v, want [typo-done] (typo-pending still needs its copy)", done)
	}

	// The holders' probe asks hub-b about it (dropped copies, what it
	// finished of copies it took over), and hub-b back with a new
	// database lost its copy too.
	holders, err := q.ShadowHolders()
	if err != nil {
		t.Fatal(err)
	}
	if holders["hub-b"] != 1 {
		t.Fatalf("holders probed: %v; want hub-b for the copy pushed under Hub-B2", holders)
	}
	lost, _, err := q.ShadowHolderSeen("hub-b", "dbB-new")
	if err != nil {
		t.Fatal(err)
	}
	if lost != 1 {
		t.Fatalf("hub-b back with a new database: %d copies lost, want 1 (the one pushed under Hub-B2)", lost)
	}
}

// rt21a H1 (the operator's view): notifications owed to a name no
// server of the topology asks as — neither a server of it nor an alias
// of one's database — wait for no one; they are logged at WARN once
// per name, not at every look, and again once a name claimed since
// loses its claim. An alias of a server of the topology is claimed (its
// holder gets them) and logged as nothing.
func TestUnclaimedOwedNotificationsWarnOnce(t *testing.T) {
	s := openTest(t)
	var logs lockedBuffer
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
		t.Fatal(err)
	}
	q.ShadowHolderSeen("hub-b2", "dbB") // refused: an alias of hub-b's database
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, n := range []string{"hub-b", "hub-b2", "hub-gone"} {
			if err := tx.AddDiscard(n, n+"-1", time.Now()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	warned := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "no server of the topology asks as") {
				out = append(out, l)
			}
		}
		return out
	}
	q.SetServers(addrTopo{"hub-a": "127.0.0.1:25", "hub-b": "127.0.0.2:25"})
	q.warnUnclaimedOwed()
	if w := warned(); len(w) != 1 || !strings.Contains(w[0], "shadow_server=hub-gone") {
		t.Fatalf("WARNs: %q; want one, of hub-gone", w)
	}
	q.SetServers(addrTopo{"hub-a": "127.0.0.1:25", "hub-b": "127.0.0.2:25", "hub-gone": "127.0.0.3:25"})
	q.SetServers(addrTopo{"hub-a": "127.0.0.1:25", "hub-b": "127.0.0.2:25"})
	if w := warned(); len(w) != 2 {
		t.Fatalf("WARNs: %q; want a second one of hub-gone, once out of the topology again", w)
	}
}

// rt21a H1 (sibling): two records of one message name its copy, one
// under hub-b and one under Hub-B2, an alias of hub-b's database (made
// while the topology misspelt it). Now that hub-b gets what is filed
// under Hub-B2, the end of one record must not write the copy's discard
// while the other still needs the copy: they are one copy on one
// database.
func TestCopyUnderAliasNeededBySibling(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
		t.Fatal(err)
	}
	q.ShadowHolderSeen("Hub-B2", "dbB") // refused: an alias of hub-b's database
	a := msg(s, "a@example.org", "x@example.test")
	b := msg(s, "a@example.org", "y@example.test")
	a.State, a.ShadowServer, a.ShadowID, a.OrgID = Ready, "Hub-B2", "copy-1", "copy-1"
	b.State, b.ShadowServer, b.ShadowID, b.OrgID = Ready, "hub-b", "copy-1", "copy-1"
	var wrote bool
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(a, []byte(body)); err != nil {
			return err
		}
		if err := tx.PutNew(b, []byte(body)); err != nil {
			return err
		}
		var err error
		wrote, err = tx.addCopyDiscard(a, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if lines, _ := q.Discards("hub-b", 10); wrote || len(lines) != 0 {
		t.Fatalf("discard written (%v), owed to hub-b: %v; want none while hub-b's record needs the copy", wrote, lines)
	}
}
