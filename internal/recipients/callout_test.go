package recipients

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// rt25b F3: a Verifier that answers without asking the next hop (its
// route's hop offers no SMTPUTF8: ErrNextHopNoSMTPUTF8) gives a Refusal
// that says so, and the answer is not cached (it is the hop's, not the
// mailbox's) (SMTP-6).
func TestCalloutRefusalNotAsked(t *testing.T) {
	cache := &memCache{m: map[string]Entry{}}
	c := NewCallout(CalloutConfig{Cache: cache, Verifier: verifierFunc(func(context.Context, string) (Verdict, string, error) {
		return Unknown, "553 5.6.7 hub-b.corp.test does not support SMTPUTF8", ErrNextHopNoSMTPUTF8
	})})
	v, err := c.Lookup(context.Background(), "émile@relay.test")
	var rf *Refusal
	if v != CannotDecide || !errors.As(err, &rf) || !rf.NotAsked || rf.Code != 553 || rf.Enhanced != [3]int{5, 6, 7} {
		t.Fatalf("Lookup = %v, %v; want CannotDecide with a 553 5.6.7 Refusal marked NotAsked", v, err)
	}
	if _, ok, _ := cache.GetRecipient("émile@relay.test"); ok {
		t.Fatal("an answer the next hop did not give was cached")
	}
}

// SMTP-6 (rt36 F4): a next hop's 4xx to RCPT TO (a *RcptDeferred: 452
// 4.2.2 mailbox full) is a temporary Refusal carrying its code, its
// enhanced code and its text made one printable, bounded line; it is
// not cached. A stale cached answer still decides over it, as over no
// answer: a hub that says "not now" for every address (its own
// directory down) does not stop an edge validating from what it knew.
func TestCalloutTemporaryRefusal(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cache := &memCache{m: map[string]Entry{}}
	reply := "452 4.2.2 mailbox full\r\n" + strings.Repeat("x", 300)
	c := NewCallout(CalloutConfig{Cache: cache, Now: func() time.Time { return now },
		Verifier: verifierFunc(func(context.Context, string) (Verdict, string, error) {
			return CannotDecide, reply, &RcptDeferred{Reply: reply}
		})})
	v, err := c.Lookup(context.Background(), "full@relay.test")
	var rf *Refusal
	if v != CannotDecide || !errors.As(err, &rf) || !rf.Temporary() || rf.Code != 452 || rf.Enhanced != [3]int{4, 2, 2} {
		t.Fatalf("Lookup = %v, %v; want CannotDecide with a temporary 452 4.2.2 Refusal", v, err)
	}
	if strings.ContainsAny(rf.Text, "\r\n") || len(rf.Text) > maxRefusalText || !strings.HasPrefix(rf.Text, "mailbox full") {
		t.Errorf("refusal text %q: want the hop's text on one line, at most %d bytes", rf.Text, maxRefusalText)
	}
	if _, ok, _ := cache.GetRecipient("full@relay.test"); ok {
		t.Fatal("a temporary refusal was cached")
	}
	// A 4xx without an enhanced code, or with one of another class.
	for in, want := range map[string][3]int{"450 try later": {4, 0, 0}, "451 5.1.1 odd": {4, 0, 0}} {
		if rf := parseRefusal(in); rf.Code/100 != 4 || rf.Enhanced != want {
			t.Errorf("parseRefusal(%q) = %+v, want a 4xx with %v", in, rf, want)
		}
	}

	// Known a TTL and a day ago (stale, within StaleFactor TTLs): the
	// old answer decides.
	cache.m["old@relay.test"] = Entry{Known: true, Checked: now.Add(-DefaultPositiveTTL - 24*time.Hour)}
	if v, err := c.Lookup(context.Background(), "old@relay.test"); v != Known || err != nil {
		t.Errorf("stale known address with the hop answering 452: %v, %v; want Known", v, err)
	}
}
