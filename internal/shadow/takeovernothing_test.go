package shadow

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/clock"
)

// takeoverCount counts the takeovers reported to the observer.
type takeoverCount struct {
	nopObserver
	n int
}

func (o *takeoverCount) Takeover(int) { o.n++ }

// nothingHeldStore answers a new database id as the transport database
// does for a primary no copy is held for: the old id, nothing taken over.
type nothingHeldStore struct{ *fakeStore }

func (s nothingHeldStore) Contact(name, dbID string, mark uint64, ids []string) (ContactResult, error) {
	res, err := s.fakeStore.Contact(name, dbID, mark, ids)
	res.TakenOver = 0
	return res, err
}

func (s nothingHeldStore) Presented(name, dbID string, mark uint64, ids []string) (ContactResult, error) {
	res, err := s.fakeStore.Presented(name, dbID, mark, ids)
	res.TakenOver = 0
	return res, err
}

func (s nothingHeldStore) PresentedDigest(name, digest string) (ContactResult, error) {
	res, err := s.fakeStore.PresentedDigest(name, digest)
	res.TakenOver = 0
	return res, err
}

// SR-7, OPS (shadowout48 F2 of an outside check): "took over shadow
// copies" at WARN, which an operator alerts on, is logged only when
// something was taken over; a primary that presents a new database while
// nothing of it is held here — in a session's XSHADOW reply, a completed
// discard query, or the digest of a refused login — gets an INFO saying
// so. The transport database's own paths (a push) log the same words.
func TestSR7NewDatabaseWithNothingHeldLogsNoTakeover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present func(r *Recorder)
	}{
		{"discard query", func(r *Recorder) { _ = r.Contact("hub-b", "db2", 0, nil) }},
		{"XSHADOW reply", func(r *Recorder) { _ = r.Presented("hub-b", "db2", 0, nil) }},
		{"digest of a refused login", func(r *Recorder) { r.presentedDigest("hub-b", "D:db2") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			st := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", DatabaseID: "db1", LastContact: t0}},
				copies: map[string]bool{}, discarded: map[string][]string{}}
			var logs bytes.Buffer
			obs := &takeoverCount{}
			r := NewRecorder(nothingHeldStore{st}, obs, slog.New(slog.NewTextHandler(&logs, nil)))
			tc.present(r)
			if obs.n != 0 {
				t.Errorf("%d takeovers counted with nothing taken over", obs.n)
			}
			if strings.Contains(logs.String(), "took over") {
				t.Errorf("a new database with nothing held logged a takeover:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), `level=INFO msg="primary presented a new transport database; nothing was taken over: no shadow copy was held for it" primary=hub-b`) ||
				!strings.Contains(logs.String(), "was=db1") {
				t.Errorf("no INFO says the primary presented a new database:\n%s", logs.String())
			}
		})
	}
}
