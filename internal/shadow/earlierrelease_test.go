package shadow

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// earlierStore is a fakeStore that keeps which primaries a completed
// session proved to advertise no database digest (EarlierReleaseStore).
type earlierStore struct {
	*fakeStore
	digestless map[string]string // primary → the database id proved
}

func (s *earlierStore) NoteDigestless(primary, dbID string, digestless bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if digestless {
		s.digestless[primary] = dbID
	} else {
		delete(s.digestless, primary)
	}
	return nil
}

func (s *earlierStore) Digestless(primary string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.digestless[primary]
	return ok && s.ps[primary] != nil && id == s.ps[primary].DatabaseID, nil
}

// SR-6, SR-16 (shadow30 item 3): a rolling upgrade. A primary of an
// earlier release advertises no database digest; a completed session
// with it (its XSHADOW reply with the stored id, its EHLO without the
// digest) proved it so. Its refusal, without the digest, is then the
// primary's — alive, holding its mail: refused, no failure counted, no
// takeover — as a current primary's refusal presenting its digest is.
// Once it advertises its digest (upgraded), a refusal without one at
// its address is not the primary's again: a failed heartbeat, towards
// the takeover (rt18 F4). A primary never seen so is judged as before.
func TestSR6EarlierReleasePrimaryRefusingIsAlive(t *testing.T) {
	m, fst, hb, clk := setup()
	fst.ps["hub-b"].DatabaseID = "db1"
	st := &earlierStore{fakeStore: fst, digestless: map[string]string{}}
	m.cfg.Store, m.rec.store = st, st
	m.rec.SessionDigest("hub-b", "db1", "") // a completed heartbeat: its EHLO carried no digest
	reply := "550 5.7.1 Shadow redundancy not offered"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, ""}) })
	for range 4 {
		step(t, m, hb, clk, 300*time.Second)
	}
	ps := m.Status()
	if len(ps) != 1 || ps[0].Refused != reply || ps[0].Failures != 0 || ps[0].Unreachable != "" {
		t.Fatalf("status of a primary of an earlier release that refuses: %+v; want refused, no failure", ps)
	}
	if tk := st.taken(); len(tk) != 0 {
		t.Fatalf("a primary of an earlier release, answering, taken over: %v", tk)
	}

	// Upgraded: a completed session presents its digest; from then on a
	// refusal without it is not the primary's.
	m.rec.SessionDigest("hub-b", "db1", "D:db1")
	step(t, m, hb, clk, 300*time.Second)
	ps = m.Status()
	if len(ps) != 1 || ps[0].Refused != "" || ps[0].Failures != 1 || !strings.Contains(ps[0].Unreachable, reply) {
		t.Fatalf("status after the primary advertised its digest, refused without it: %+v; want unreachable, 1 failure", ps)
	}
}
