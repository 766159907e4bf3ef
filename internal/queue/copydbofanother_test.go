package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/orgid"
)

// rt17f-F1 (SR-3, SR-7): a copy on receipt pushed by hub-c presenting
// the database id this server knows as hub-a's (XSHADOWCOPY=) is refused
// like that id at XSHADOW: nothing is recorded under hub-c, and hub-c's
// copies held here are not taken over as if it had returned with a new
// database. The same holds for a contact (XSHADOW reply, heartbeat).
func TestCopyPresentingAnotherServersDatabase(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"})
	q.Start(ctx)
	push := func(primary, dbID string) (*Message, error) {
		c := msg(s, "b@example.org", "y@b.example")
		c.OrgID = orgid.New()
		_, err := q.SubmitShadowCopy(ctx, c, []byte(body), primary, "", dbID)
		return c, err
	}
	if _, err := push("hub-a", "db-a"); err != nil {
		t.Fatal(err)
	}
	cc, err := push("hub-c", "db-c")
	if err != nil {
		t.Fatal(err)
	}
	_, err = push("hub-c", "db-a")
	var other *DatabaseOfAnotherError
	if !errors.As(err, &other) || other.Other != "hub-a" {
		t.Fatalf("hub-c pushing a copy with hub-a's database id: %v; want it refused as hub-a's", err)
	}
	if _, err := q.ShadowPresented("hub-c", "db-a", nil); !errors.As(err, &other) {
		t.Fatalf("hub-c presenting hub-a's database id on contact: %v; want it refused", err)
	}
	if got, _ := q.Message(cc.ID); got == nil || got.State != Shadow {
		t.Fatalf("hub-c's copy was taken over: %+v", got)
	}
	var p *ShadowPeer
	_ = s.View(func(tx *Tx) error { p, err = tx.Peer("hub-c"); return err })
	if p == nil || p.DatabaseID != "db-c" {
		t.Fatalf("hub-c's record: %+v; want db-c kept", p)
	}
}
