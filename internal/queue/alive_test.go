package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// A primary down twice for a moment, each time just when a heartbeat
// fell due, was taken over although it completed sessions with this
// server in between (rt36 F2): its own session here (ShadowAnswered) and
// the XSHADOW reply of a watch session with the stored database id
// (ShadowPresented) left the failed heartbeats counted, so the second
// failure, a second after the primary went down again, made two "in a
// row". Every contact with the real primary resets the count, and the
// next heartbeat is due a timeout after that contact, so a takeover
// never comes before timeout × retries after the last contact.
func TestContactsResetFailedHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		name    string
		contact func(q *Manager) error
	}{
		{"session of the primary here", func(q *Manager) error { q.ShadowAnswered("hub-b"); return nil }},
		{"XSHADOW reply with the stored id", func(q *Manager) error {
			_, err := q.ShadowPresented("hub-b", "db1", nil)
			return err
		}},
		{"copy pushed", func(q *Manager) error {
			c := msg(q.store, "b@example.org", "y@b.example")
			c.OrgID = orgid.New()
			_, err := q.SubmitShadowCopy(context.Background(), c, []byte(body), "hub-b", "127.0.0.2:25", "db1")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q, _, _, m := hubBCopy(t, s, clk, func(int) Outcome { return Deferred }, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, "a shadow copy")
			if _, err := q.ShadowContact("hub-b", "db1", nil); err != nil {
				t.Fatal(err)
			}
			const timeout = 5 * time.Second
			clk.Advance(timeout)
			if f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); err != nil || f != 1 || taken != 0 {
				t.Fatalf("first failed heartbeat: failures %d, taken %d, %v", f, taken, err)
			}
			clk.Advance(time.Second)
			if err := tc.contact(q); err != nil {
				t.Fatal(err)
			}
			contact := clk.Now()
			peers, err := q.ShadowPeers()
			if err != nil || len(peers) != 1 || peers[0].Failures != 0 {
				t.Fatalf("failures after a contact with the primary: %+v %v", peers, err)
			}
			// The next heartbeat is due a timeout after the contact, not
			// after the failed one.
			if got := peerDue(peers[0]); got.Before(contact.Add(timeout)) {
				t.Fatalf("next heartbeat due at %v, before a timeout after the contact (%v)", got, contact)
			}
			clk.Advance(4 * time.Second)
			if f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); err != nil || f != 1 || taken != 0 {
				t.Fatalf("failed heartbeat after a contact: failures %d, taken %d, %v; want 1, none", f, taken, err)
			}
			if got, _ := q.Message(m.ID); got == nil || got.State != Shadow {
				t.Fatalf("the copy after one failure since the last contact: %+v", got)
			}
			// Two in a row after the contact reach the retry count, 9 s
			// after it: counted, but no takeover before timeout × retries
			// after the contact (rt F0).
			clk.Advance(timeout)
			if f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); !errors.Is(err, ErrTakeoverDeferred) || f != 2 || taken != 0 {
				t.Fatalf("second failure 9 s after the contact: failures %d, taken %d, %v; want 2, deferred", f, taken, err)
			}
			if got, _ := q.Message(m.ID); got == nil || got.State != Shadow {
				t.Fatalf("the copy 9 s after the last contact: %+v", got)
			}
			// The next one, past the bound, takes it over, at the count
			// the deferred one said (the retry count: rt47).
			clk.Advance(timeout)
			if f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); err != nil || f != 2 || taken == 0 {
				t.Fatalf("third failure, 14 s after the contact: failures %d, taken %d, %v; want 2 (the retry count), a takeover", f, taken, err)
			}
		})
	}
}

// peerDue is when the next heartbeat to p falls due: a timeout after
// the later of its last contact and the start of its last failed
// heartbeat (shadow.due), here without the timeout.
func peerDue(p ShadowPeer) time.Time {
	if p.LastTry.After(p.LastContact) {
		return p.LastTry.Add(5 * time.Second)
	}
	return p.LastContact.Add(5 * time.Second)
}

// The bound on a takeover (no earlier than timeout × retries after the
// last contact of any kind) holds across a restart of this server, which
// forgets in memory when it last heard from each primary: its start
// stands for that contact. A primary that pushed a copy just before the
// shadow server restarted, with failures stored from before, is not
// taken over by the first failures after the start.
func TestRestartedShadowServerDefersTakeover(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const timeout = 5 * time.Second
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	c := msg(s, "b@example.org", "y@b.example")
	c.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(context.Background(), c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil {
		t.Fatal(err)
	}
	// One failure counted before the restart (the push came after it:
	// the count starts again, then fails once more).
	clk.Advance(timeout)
	if f, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); err != nil || f != 1 {
		t.Fatalf("failure before the restart: %d, %v", f, err)
	}
	s.Close()
	clk.Advance(time.Second)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, nil, ManagerConfig{Clock: clk})
	start := clk.Now()
	clk.Advance(time.Second)
	if f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); !errors.Is(err, ErrTakeoverDeferred) || f != 2 || taken != 0 {
		t.Fatalf("second failure 1 s after the restart: failures %d, taken %d, %v; want 2, deferred", f, taken, err)
	}
	clk.Advance(start.Add(2 * timeout).Sub(clk.Now()))
	if f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); err != nil || f != 2 || taken != 1 {
		t.Fatalf("failure timeout × retries after the restart: failures %d, taken %d, %v; want 2 (the retry count the deferred one said), the copy taken over", f, taken, err)
	}
}

// rt46 Observation: after the copies were taken over, a restart of this
// server (its start counts as a contact) made the next failures answer
// ErrTakeoverDeferred, and the log promised a takeover to come of copies
// taken over already. They answer ErrTakenOverAlready: counted, nothing
// more to take.
func TestFailuresAfterTakeoverAndRestartSayTakenOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const timeout = 5 * time.Second
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	c := msg(s, "b@example.org", "y@b.example")
	c.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(context.Background(), c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		clk.Advance(timeout)
		q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused")
	}
	if got, _ := q.Message(c.ID); got == nil || got.State == Shadow {
		t.Fatalf("the copy after 2 failures past the bound: %+v", got)
	}
	s.Close()
	clk.Advance(time.Second)
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, nil, ManagerConfig{Clock: clk})
	clk.Advance(time.Second)
	if f, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused"); !errors.Is(err, ErrTakenOverAlready) || f != 2 || taken != 0 {
		// 2: the count that made the takeover stands (shadowrt35 F3)
		t.Fatalf("failure after the takeover and a restart: failures %d, taken %d, %v; want 2, taken over already", f, taken, err)
	}
}
