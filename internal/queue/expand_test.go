package queue

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// expander answers a group recipient Expanded with its members and
// relays every other recipient, recording the recipients of each attempt.
type expander struct {
	mu       sync.Mutex
	groups   map[string][]string
	attempts [][]string
	calls    chan struct{}
}

func (e *expander) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	defer func() { e.calls <- struct{}{} }()
	e.mu.Lock()
	defer e.mu.Unlock()
	var got []string
	var out []Result
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		got = append(got, addr)
		if members, ok := e.groups[addr]; ok {
			out = append(out, Result{Rcpt: i, Outcome: Expanded, Expand: members, Queue: "expansion", Reply: "250 2.1.5 expanded"})
			continue
		}
		out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "site:b", Reply: "250 ok"})
	}
	e.attempts = append(e.attempts, got)
	return out
}

// Issue 11, expansion groups: the group recipient is done once expanded,
// its members join the message in the same commit and are attempted at
// once (no retry wait), without duplicates of recipients it already has,
// with the group as their original recipient (RFC 3461 ORCPT).
func TestExpandedGroupMembersJoinTheMessage(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := &expander{groups: map[string][]string{"all@example.org": {"a@example.org", "b@EXAMPLE.org", "c@example.org"}},
		calls: make(chan struct{}, 10)}
	q := NewManager(s, e, ManagerConfig{Hostname: "mx.test", Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "sender@example.org", "all@example.org", "b@example.org")
	m.Rcpts[0].Notify = NotifyFailure
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-e.calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("attempt %d did not happen (members must be due at once, not after the retry wait)", i+1)
		}
	}
	waitFor(t, "removal", func() bool { return len(messages(t, s)) == 0 })
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.attempts) != 2 || strings.Join(e.attempts[0], ",") != "all@example.org,b@example.org" ||
		strings.Join(e.attempts[1], ",") != "a@example.org,c@example.org" {
		t.Fatalf("attempts %v", e.attempts)
	}
}

func TestExpandIntoInheritsAndBounds(t *testing.T) {
	m := &Message{Rcpts: []Recipient{{Addr: "g@x", Notify: NotifyFailure | NotifyDelay}, {Addr: "a@x"}}}
	if !expandInto(m, 0, []string{"a@X", "b@x", "b@x"}, nil) || len(m.Rcpts) != 3 {
		t.Fatalf("rcpts %+v", m.Rcpts)
	}
	if r := m.Rcpts[2]; r.Addr != "b@x" || r.ORcpt != "rfc822;g@x" || r.Notify != NotifyFailure|NotifyDelay || r.Status != Pending {
		t.Errorf("member %+v", r)
	}
	if expandInto(m, 0, []string{"a@x"}, nil) {
		t.Error("nothing new, yet added")
	}
}

// A member given in the other form of an internationalised domain
// (U-label or A-label, the domain in any case) is the recipient the
// message has already: one delivery, not two.
func TestExpandIntoIDNFormsAreOneRecipient(t *testing.T) {
	m := &Message{Rcpts: []Recipient{{Addr: "g@x"}, {Addr: "anna@bücher.example"}}}
	if expandInto(m, 0, []string{"anna@XN--BCHER-KVA.example", "bob@xn--bcher-kva.example", "bob@BÜCHER.example"}, nil) && len(m.Rcpts) != 3 {
		t.Fatalf("rcpts %+v", m.Rcpts)
	}
	if len(m.Rcpts) != 3 || m.Rcpts[2].Addr != "bob@xn--bcher-kva.example" {
		t.Errorf("rcpts %+v", m.Rcpts)
	}
}

// A member whose local part differs from a recipient's in case alone is
// another mailbox (RFC 5321 §2.4: the destination interprets it), added
// (rt17b-F2); in a domain this organisation is authoritative for
// (owned) it is the same mailbox, so one mailbox of this organisation
// is still one recipient, under the spelling first given.
func TestExpandIntoKeepsLocalPartCase(t *testing.T) {
	m := &Message{Rcpts: []Recipient{{Addr: "g@x"}, {Addr: "td@good.test"}}}
	if !expandInto(m, 0, []string{"TD@good.test", "td@GOOD.test"}, nil) || len(m.Rcpts) != 3 || m.Rcpts[2].Addr != "TD@good.test" {
		t.Errorf("rcpts %+v", m.Rcpts)
	}
	owned := func(d string) bool { return strings.EqualFold(d, "example.test") }
	m = &Message{Rcpts: []Recipient{{Addr: "g@example.test"}, {Addr: "bob@example.test"}, {Addr: "td@relay.test"}}}
	expandInto(m, 0, []string{"BOB@example.test", "TD@relay.test", "Carl@example.test", "carl@Example.test", "x@else.test"}, owned)
	var got []string
	for _, r := range m.Rcpts[3:] {
		got = append(got, r.Addr)
	}
	if want := []string{"TD@relay.test", "Carl@example.test", "x@else.test"}; !slices.Equal(got, want) {
		t.Errorf("members added %q, want %q", got, want)
	}
}
