package delivery

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-17, OPS (shadow45 item 4; rt44 shadowrcpt3 F3): a push whose
// answer was cut after its whole write (unconfirmed: the server may
// hold the copy) and whose repeat on a new session to the same server
// is kept there left no trace at INFO — the operator saw the failure
// line when the repeat failed too, and nothing when it went through,
// though that server may now hold the copy from both pushes. The repeat
// that succeeds is logged once at INFO, with the server and the first
// push's error; a push kept at its first try logs nothing, and neither
// does a repeat after a first session lost before the data (nothing of
// the copy sent: no push left unconfirmed).
func TestSR17RepeatPushThatSucceedsLoggedOnceAtInfo(t *testing.T) {
	for _, c := range []struct {
		name  string
		port  int
		fault string
		first int32 // sessions ended by fault
		want  int   // INFO lines of a repeat that succeeded
	}{
		{"answer cut once, repeat kept", 39650, testsupport.FaultDotEOF, 1, 1},
		{"session lost before the data, repeat kept", 39750, testsupport.FaultMailEOF, 1, 0},
		{"kept at once", 39700, "", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			script := testsupport.HubScript{DataReply: "250 2.0.0 kept"}
			if c.first > 0 {
				script.Fault, script.FaultFirst = c.fault, c.first
			}
			b := testsupport.StartHub(t, testsupport.AddrInRange(t, "127.0.0.170", c.port, 50), script)
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.170:9449"},
					{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: b.Addr()}},
			})
			if err != nil {
				t.Fatal(err)
			}
			logs := &lockedBuffer{}
			d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
				Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
				CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second,
				Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r := NewReceiptShadow(d, "db-a")
			defer r.Close()
			link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
			if err != nil {
				t.Fatal(err)
			}
			m := &queue.Message{ID: 7, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
				Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
			err = link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")))
			link.Done(err == nil)
			if err != nil {
				t.Fatalf("push: %v; want the copy kept (at its repeat)", err)
			}
			if got := b.Faults.Load(); got != c.first {
				t.Fatalf("%d answers cut, want %d: the test proves nothing", got, c.first)
			}
			var lines []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=INFO") && strings.Contains(l, "pushed again") {
					lines = append(lines, l)
				}
			}
			if len(lines) != c.want {
				t.Fatalf("INFO lines of a repeat push that succeeded: %d, want %d; log:\n%s", len(lines), c.want, logs.String())
			}
			for _, l := range lines {
				for _, want := range []string{"shadow_server=hub-b", "msg_id=" + m.ID.String(), "first_err="} {
					if !strings.Contains(l, want) {
						t.Errorf("the line lacks %s: %s", want, l)
					}
				}
			}
		})
	}
}
