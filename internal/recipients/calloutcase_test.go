package recipients

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/mailaddr"
)

// A callout's answer is kept per mailbox as the destination tells
// mailboxes apart: for a domain this organisation is authoritative for,
// ASCII case aside (alice@ answers for ALICE@); for any other, the
// local part exactly — "td@" known there says nothing of "TD@", which
// is asked for itself (rt17b-F2's rule, RFC 5321 §2.4).
func TestCalloutKeyKeepsRelayedLocalPartCase(t *testing.T) {
	ctx := context.Background()
	h := &hub{known: map[string]bool{"alice@corp.test": true, "td@relay.test": true}}
	cache := &memCache{m: map[string]Entry{}}
	key := func(a string) string {
		return mailaddr.RcptKey(a, strings.EqualFold(a[strings.LastIndexByte(a, '@')+1:], "corp.test"))
	}
	c := NewCallout(CalloutConfig{Verifier: h, Cache: cache, Key: key})
	for _, s := range []struct {
		addr  string
		want  Verdict
		calls int
	}{
		{"alice@corp.test", Known, 1},
		{"ALICE@corp.test", Known, 1}, // the same mailbox: cached
		{"td@relay.test", Known, 2},
		{"TD@relay.test", Unknown, 3}, // another mailbox: asked
		{"td@RELAY.test", Known, 3},   // the domain's case aside: cached
	} {
		if v, _ := c.Lookup(ctx, s.addr); v != s.want || h.calls != s.calls {
			t.Errorf("%s: %v after %d callouts, want %v after %d", s.addr, v, h.calls, s.want, s.calls)
		}
	}
}
