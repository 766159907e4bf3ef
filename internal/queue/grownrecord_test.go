package queue

import (
	"testing"
	"time"
)

// SMTP-5 (README "What a size limit measures"): the bytes the receiving
// session added to the sender's message (Grown) survive the record, with
// the other fields in the flags' word intact; more than MaxGrown is held
// as MaxGrown; a record without them (an older release's) reads as not
// known, never as "nothing added".
func TestRecordKeepsGrownBytes(t *testing.T) {
	for _, tc := range []struct {
		grown, want int64
		known       bool
	}{
		{0, 0, true},
		{54, 54, true},
		{MaxGrown, MaxGrown, true},
		{MaxGrown + 1, MaxGrown, true},
		{-3, 0, true},
		{77, 0, false},
	} {
		m := &Message{ID: 7, State: Ready, From: "a@example.org", Size: 20300, Released: true, MayRepeat: true,
			OrgEarlier: 90 * time.Second, Grown: tc.grown, GrownKnown: tc.known, Rcpts: []Recipient{{Addr: "b@example.net"}}}
		got, err := decodeMessage(m.encode())
		if err != nil {
			t.Fatal(err)
		}
		if got.Grown != tc.want || got.GrownKnown != tc.known {
			t.Errorf("Grown %d (known %v) read back as %d (known %v), want %d", tc.grown, tc.known, got.Grown, got.GrownKnown, tc.want)
		}
		if !got.Released || !got.MayRepeat || got.OrgEarlier != 90*time.Second {
			t.Errorf("Grown %d: the other flags read back as %+v", tc.grown, got)
		}
	}
}

// The bytes umbra's servers added travel with every copy relayed inside
// the organisation (Carried: orgid.GrownHeader), so the next hub holds
// its limits to the message as its sender sent it too.
func TestCarriedNamesGrownBytes(t *testing.T) {
	m := &Message{OrgID: "0123456789abcdef0123456789abcdef", Grown: 54, GrownKnown: true}
	if r := m.Carried(); r.Grown != 54 {
		t.Fatalf("carried %+v", r)
	}
}
