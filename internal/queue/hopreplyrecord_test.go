package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// heldWithHopReply is a message whose recipient is held in queue
// mx:down.test with the next hop's reply kept apart (heldover.go).
func heldWithHopReply(id ID) *Message {
	return &Message{ID: id, State: Ready, From: "a@example.org", Arrived: time.Unix(1000, 0), NextAttempt: time.Unix(2000, 0),
		Rcpts: []Recipient{
			{Addr: "x@down.test", Queue: "mx:down.test", LastReply: HeldReply("mx:down.test"),
				HopReply: greylisted, HopHost: "mx.down.test[192.0.2.1]:25"},
			{Addr: "y@up.test", Queue: "mx:up.test", NextHop: "mx.up.test[192.0.2.2]:25", LastReply: "451 4.4.1 refused"},
		}}
}

// dsnlast47: a held recipient's next hop's reply is kept in the record
// (version 4) and reads back; records of the earlier versions decode as
// before — an older release's bytes, versions 1 to 3 — and every record
// without such a recipient is still written in version 2 or 3, as an
// older release writes it. A kept reply beside no hold is not written
// (it is kept only while the hold stands). The head readers
// (peekRetryFields, damagedHead) read version 4 too.
func TestHeldHopReplyRecord(t *testing.T) {
	m := heldWithHopReply(7)
	b := m.encode()
	if b[0]&^recordSummed != recordVersionHopReply {
		t.Fatalf("a record with a kept reply is written as version %d, want %d", b[0]&^recordSummed, recordVersionHopReply)
	}
	got, err := decodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Rcpts[0]; r.HopReply != greylisted || r.HopHost != "mx.down.test[192.0.2.1]:25" || r.LastReply != HeldReply("mx:down.test") {
		t.Errorf("the held recipient reads back %+v", r)
	}
	if r := got.Rcpts[1]; r.HopReply != "" || r.HopHost != "" || r.LastReply != "451 4.4.1 refused" {
		t.Errorf("the other recipient reads back %+v", r)
	}
	if f, ok := peekRetryFields(b); !ok || f.state != Ready || !f.next.Equal(time.Unix(2000, 0)) {
		t.Errorf("peekRetryFields of version 4: %+v %v", f, ok)
	}
	if h, ok := damagedHead(7, b); !ok || h.ID != 7 {
		t.Errorf("damagedHead of version 4: %+v %v", h, ok)
	}
	// Quarantined and held with a kept reply: both read back.
	mq := heldWithHopReply(8)
	mq.State, mq.Quarantine = Quarantined, "spf fail"
	if got, err := decodeMessage(mq.encode()); err != nil || got.Quarantine != "spf fail" || got.Rcpts[0].HopReply != greylisted {
		t.Errorf("quarantined with a kept reply: %+v %v", got, err)
	}

	// A version-4 record with a reply kept beside no hold is none encode
	// writes: it does not decode.
	// (the held recipient's hold changed in place into a reply of the
	// same length that is none, the checksum left off)
	if raw, _, err := checkRecordSum(heldWithHopReply(9).encode()); err != nil {
		t.Fatal(err)
	} else {
		held := HeldReply("mx:down.test")
		other := "452 4.3.2 queue mx:down.test suspended by the administratoR" // a reply of the same length that is no hold
		if len(other) != len(held) {
			t.Fatalf("lengths %d %d", len(other), len(held))
		}
		forged := []byte(strings.Replace(string(raw), held, other, 1))
		if _, err := decodeMessage(forged); err == nil || !strings.Contains(err.Error(), "kept beside no hold") {
			t.Errorf("a reply kept beside no hold decoded: %v", err)
		}
	}

	// The hold ended (its reply is no longer the hold's): nothing kept.
	m.Rcpts[0].LastReply = "451 4.7.1 greylisted again"
	if b := m.encode(); b[0]&^recordSummed != recordVersion {
		t.Errorf("a record whose kept reply stands beside no hold is written as version %d", b[0]&^recordSummed)
	} else if got, err := decodeMessage(b); err != nil || got.Rcpts[0].HopReply != "" {
		t.Errorf("%+v %v", got, err)
	}

	// Older releases' bytes, laid out field by field as they wrote them
	// (no checksum): version 1 (no org id), 2, and 3 (a quarantine
	// reason after the recipients), of a held recipient, the hold alone.
	for _, version := range []byte{1, 2, 3} {
		e := encoder{buf: []byte{version}}
		e.uint(9)
		state := Ready
		if version == 3 {
			state = Quarantined
		}
		e.uint(uint64(state))
		e.str("a@example.org")
		e.time(time.Unix(1000, 0))
		e.uint(100)
		for range 5 { // Connector, ClientIP, Helo, EnvID, MessageID
			e.str("")
		}
		if version >= 2 {
			e.str("org-1")
		}
		e.str("") // ShadowServer
		e.str("") // ShadowID
		e.uint(0) // flags
		e.uint(1) // Attempts
		e.time(time.Unix(2000, 0))
		e.uint(0) // CrashCount
		e.str(HeldReply("mx:down.test"))
		e.uint(1)
		for _, f := range []string{"x@down.test", ""} {
			e.str(f)
		}
		e.uint(0) // Notify
		e.uint(uint64(Pending))
		for _, f := range []string{"mx:down.test", "", HeldReply("mx:down.test"), "", "", "", "", ""} {
			e.str(f)
		}
		if version == 3 {
			e.str("spf fail")
		}
		got, err := decodeMessage(e.buf)
		if err != nil {
			t.Fatalf("version %d: %v", version, err)
		}
		if r := got.Rcpts[0]; r.HopReply != "" || r.Addr != "x@down.test" || heldBy(r.LastReply) != "mx:down.test" {
			t.Errorf("version %d: %+v", version, r)
		}
		if version >= 2 && got.OrgID != "org-1" || version == 3 && got.Quarantine != "spf fail" {
			t.Errorf("version %d: org id %q, quarantine %q", version, got.OrgID, got.Quarantine)
		}
	}
}

// dsnlast47: `umbra db compact --schema 4` (or 3), the way back to an
// older release, rewrites a record of version 4 in the version that
// release reads: the held recipient keeps the hold's note alone, as an
// older release wrote it; nothing is set aside as damaged there.
func TestCompactForRollbackDropsKeptHopReply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	m := heldWithHopReply(s.NewID(time.Now()))
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, _, err := CompactTo(path, 1<<30, 4); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMessages).Get(m.ID.Key())
		if len(v) == 0 || v[0] != recordVersion {
			t.Fatalf("after compaction for schema 4 the record's version byte is %v, want %d", v[:min(len(v), 1)], recordVersion)
		}
		got, err := decodeMessage(v)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.Rcpts[0]; r.HopReply != "" || heldBy(r.LastReply) != "mx:down.test" {
			t.Errorf("after compaction the held recipient reads %+v", r)
		}
		return nil
	})
}
