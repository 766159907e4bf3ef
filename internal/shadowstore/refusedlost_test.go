package shadowstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
)

// refusedProbe is a probe hub-b answered and refused without presenting
// the database its copies were made on (shadow.HoldingRefusal, false).
type refusedProbe struct{}

func (refusedProbe) Error() string {
	return "hub-b refused the shadow session: " + refusedProbe{}.Refusal()
}
func (refusedProbe) Refusal() string {
	return "550 5.7.1 Server id does not match the connection's address"
}
func (refusedProbe) HoldsItsCopies() bool { return false }

type refusingCopier struct{}

func (refusingCopier) Probe(context.Context, string) (string, error)  { return "", refusedProbe{} }
func (refusingCopier) Recopy(context.Context, uint64) (string, error) { return "", nil }

// OPS logs (holders49, left item): a holder that refuses every probe
// without presenting the database its copies were made on has its copies
// taken as lost at the takeover bound, and the holders' WARN says it
// refused, with its reply. The queue's WARN of each message so marked
// still said "shadow server not reachable" — of a server that answers
// every probe. It says the server refused, with the reply, as the
// holders' WARN does.
func TestRefusedHolderCopyLostSaysRefusedPerMessage(t *testing.T) {
	const body = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	q := queue.NewManager(s, deadRelay{}, queue.ManagerConfig{Clock: clk, Log: log})
	org := orgid.New()
	m := &queue.Message{ID: s.NewID(clk.Now()), From: "a@example.org", Arrived: clk.Now(), OrgID: org, ShadowID: org,
		ShadowServer: "hub-b", Rcpts: []queue.Recipient{{Addr: "b@sb.test"}}}
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	h := shadow.NewHolders(shadow.HoldersConfig{Store: shadowstore.Store{M: &q}, Copier: refusingCopier{}, Clock: clk,
		Interval: time.Second, Log: log, LostAfter: func() time.Duration { return 3 * time.Second }})
	for range 6 {
		h.Pass(context.Background())
		clk.Advance(time.Second)
	}
	if _, ok := q.SingleCopyOf(m.ID); !ok {
		t.Fatalf("the copy on the holder refusing without its database was not taken as lost:\n%s", logs.String())
	}
	var perMsg string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "msg_id="+m.ID.String()) && strings.Contains(l, "level=WARN") {
			perMsg = l
		}
	}
	if perMsg == "" {
		t.Fatalf("no WARN of the message whose copy was taken as lost:\n%s", logs.String())
	}
	if strings.Contains(perMsg, "not reachable") || !strings.Contains(perMsg, "refused") || !strings.Contains(perMsg, "550 5.7.1 Server id does not match") {
		t.Errorf("the message's WARN does not say its holder refused, with the reply: %s", perMsg)
	}
}
