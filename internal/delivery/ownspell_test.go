package delivery

import (
	"slices"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// A group member of an authoritative domain written in another ASCII
// case than a recipient the message has is given that spelling (one
// mailbox of this organisation), a member of any other domain keeps its
// own: "TD@" and "td@" there are two mailboxes (rt17b-F2).
func TestOwnSpellingsOfGroupMembers(t *testing.T) {
	tbl := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative},
		{Domain: "relay.test", Type: routing.InternalRelay}}, nil)
	m := &queue.Message{Rcpts: []queue.Recipient{{Addr: "g@example.test"}, {Addr: "bob@example.test"}, {Addr: "td@relay.test"}}}
	got := ownSpellings(tbl, m, []string{"BOB@example.test", "TD@relay.test", "Carl@example.test", "carl@Example.test", "x@else.test"})
	want := []string{"bob@example.test", "TD@relay.test", "Carl@example.test", "Carl@example.test", "x@else.test"}
	if !slices.Equal(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}
	if got := ownSpellings(nil, m, []string{"BOB@example.test"}); got[0] != "BOB@example.test" {
		t.Errorf("no table: %q", got)
	}
}
