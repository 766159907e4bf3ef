package recipients

import (
	"context"
	"errors"
	"testing"
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
