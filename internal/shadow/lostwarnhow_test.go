package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS- logs (sites48 F2): the WARN of copies taken as lost says what was
// tried. For a holder no probe can be made to (no server of this
// server's topology) it is no failed probe: the line says that none goes
// to it and that neither its own sessions nor a hand-over of discards
// reached it. A holder whose probes fail is WARNed as before, without
// that.
func TestLostWarnSaysNoProbeGoesToAnUnprobeableHolder(t *testing.T) {
	for _, c := range []struct {
		what   string
		copier Copier
		how    bool
	}{
		{"a holder no probe goes to", unprobeable{}, true},
		{"a holder whose probes fail", &silentCopier{down: map[string]bool{"h1": true}}, false},
	} {
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		var buf bytes.Buffer
		st := &heardStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"h1": 2}}, lost: map[string]time.Time{}}, heard: map[string]time.Time{}}
		h := NewHolders(HoldersConfig{Store: st, Copier: c.copier, Clock: clk, Interval: time.Second,
			Log: slog.New(slog.NewTextHandler(&buf, nil)), LostAfter: func() time.Duration { return 3 * time.Second }})
		for range 6 {
			h.Pass(context.Background())
			clk.Advance(time.Second)
		}
		if _, ok := st.lost["h1"]; !ok {
			t.Fatalf("%s: its copies not taken as lost after the bound:\n%s", c.what, buf.String())
		}
		var warn string
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "not reachable for the takeover bound") {
				warn = l
			}
		}
		if warn == "" {
			t.Fatalf("%s: no WARN of the copies taken as lost:\n%s", c.what, buf.String())
		}
		if got := strings.Contains(warn, "no probe goes to it"); got != c.how {
			t.Errorf("%s: the WARN says no probe goes to it: %v, want %v: %s", c.what, got, c.how, warn)
		}
	}
}
