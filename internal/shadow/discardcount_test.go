package shadow

import (
	"sync"
	"testing"
)

// onceStore discards each id once, as the transport database does: a
// notification handed again (a primary repeats what no session of this
// server acknowledged yet) finds no copy the second time.
type onceStore struct {
	fakeStore
	mu   sync.Mutex
	seen map[string]bool
}

func (s *onceStore) apply(ids []string) ContactResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r ContactResult
	for _, id := range ids {
		if !s.seen[id] {
			s.seen[id] = true
			r.Discarded++
		}
	}
	return r
}

func (s *onceStore) Contact(_, _ string, _ uint64, ids []string) (ContactResult, error) {
	return s.apply(ids), nil
}

func (s *onceStore) Presented(_, _ string, _ uint64, ids []string) (ContactResult, error) {
	return s.apply(ids), nil
}

type discardObserver struct {
	nopObserver
	mu sync.Mutex
	n  int
}

func (o *discardObserver) DiscardsReceived(n int) {
	o.mu.Lock()
	o.n += n
	o.mu.Unlock()
}

// OPS-2 (rt28a F1): umbra_shadow_discards_received_total counts the
// copies discard notifications discarded here, each once — not the ids
// of every reply, which repeat what the primary was not told this server
// has (six concurrent sessions, six times the same five ids).
func TestDiscardsReceivedCountedOnce(t *testing.T) {
	st := &onceStore{seen: map[string]bool{}}
	obs := &discardObserver{}
	r := NewRecorder(st, obs, nil)
	ids := []string{"a", "b", "c", "d", "e"}
	for range 3 {
		if err := r.Contact("hub-a", "db", 0, ids); err != nil {
			t.Fatal(err)
		}
		if err := r.Presented("hub-a", "db", 0, ids); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.saveFinished("hub-a", 5, false)("db", 0, ids, false); err != nil {
		t.Fatal(err)
	}
	if obs.n != 5 {
		t.Fatalf("discards counted as received: %d, want 5 (each copy once)", obs.n)
	}
}
