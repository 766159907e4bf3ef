package delivery

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/routing"
)

// rt21a L1: a holder that refuses this server's probe (its topology
// misspells this server: 550 5.7.1 Server id is not a server of the
// organisation) was seen on this server only at DEBUG, and counted
// nowhere. The refusal is recorded as a session of kind "probe"
// (counted in umbra_shadow_refused_sessions_total{session="probe"}), and
// logged at WARN with the holder's reply once per state change — when
// it starts refusing, or refuses anew with another reply — not at every
// probe; an INFO says when it lets this server in again.
func TestProbeRefusedWarnsOncePerState(t *testing.T) {
	var refuse atomic.Value
	refuse.Store("550 5.7.1 Server id is not a server of the organisation")
	ehlo := "250-holder.test\r\n250 XSHADOW 15\r\n"
	addr := scriptedPeerLines(t, ehlo, func(line string) string {
		switch cmd := strings.ToUpper(line); {
		case strings.HasPrefix(cmd, "XSHADOW "):
			if r := refuse.Load().(string); r != "" {
				return r + "\r\n"
			}
			return "250 db-b MARK=3\r\n"
		case strings.HasPrefix(cmd, "XQUERYTAKENDONE"):
			return "250 2.0.0 0 finished here\r\n"
		case cmd == "QUIT":
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: addr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec := &refusingRecorder{}
	d.st.Load().cfg.Shadows = rec
	var logs logBuffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	r := NewReceiptShadow(d, "db-a").WithHolders(&takenDoneHolders{})
	defer r.Close()
	probe := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := r.Probe(ctx, "hub-b")
		return err
	}
	for i := 0; i < 3; i++ {
		err := probe()
		if err == nil {
			t.Fatalf("probe %d of a refusing holder: no error", i)
		}
		// The holders' round tells a refusal from a holder not reached
		// by it (rt39 F3): the error carries the holder's reply.
		var ref interface{ Refusal() string }
		if !errors.As(err, &ref) || !strings.HasPrefix(ref.Refusal(), "550 5.7.1") {
			t.Fatalf("probe %d of a refusing holder: %v, want a refusal carrying its reply", i, err)
		}
	}
	refuse.Store("")
	if err := probe(); err != nil {
		t.Fatalf("probe of a holder letting this server in: %v", err)
	}
	refuse.Store("550 5.7.1 Database id db-a is another server's here; nothing changed")
	if err := probe(); err == nil {
		t.Fatal("probe of a holder refusing again: no error")
	}
	probe()

	rec.mu.Lock()
	refused := append([]string(nil), rec.refused...)
	rec.mu.Unlock()
	if len(refused) != 5 || !strings.HasPrefix(refused[0], "probe 550 5.7.1 Server id is not a server of the organisation") {
		t.Fatalf("refusals recorded: %q; want 5 of session probe, with the reply", refused)
	}
	out := logs.String()
	const warn = `level=WARN msg="shadow server refuses this server's probe: copies of messages held here stay there, unconfirmed"`
	if n := strings.Count(out, warn); n != 2 ||
		!strings.Contains(out, `reply="550 5.7.1 Server id is not a server of the organisation"`) ||
		!strings.Contains(out, `reply="550 5.7.1 Database id db-a is another server's here; nothing changed"`) {
		t.Fatalf("%d WARNs for 5 refused probes in two runs, want 2 with each reply:\n%s", n, out)
	}
	if n := strings.Count(out, `level=INFO msg="shadow server lets this server's probe in again"`); n != 1 {
		t.Fatalf("%d INFOs for the holder letting this server in again, want 1:\n%s", n, out)
	}
}
