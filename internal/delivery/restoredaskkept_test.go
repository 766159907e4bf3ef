package delivery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-6 after `umbra db restore` of a holder (restored40 item 2): a
// restored database asked every transport server about its
// predecessor's handed copies, and waited up to the takeover bound, at
// every start for good. A server's whole answer is kept once applied
// (queue RestoredAnsweredBy): after a restart (a real bbolt file closed
// and opened again) only the servers that did not answer are asked, and
// once every one did, a start neither asks nor waits.
func TestSR6RestoredHolderAsksOnlyUnansweredServersAfterRestart(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.123:8001"}
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	store, err := queue.Open(path, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "queue.bak")
	if _, err := store.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if _, err := queue.Restore(backup, path); err != nil {
		t.Fatal(err)
	}
	start := func() (Holders, *queue.Manager, *queue.Store) {
		store, err := queue.Open(path, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if store.Predecessor() == "" {
			t.Fatal("the restored database names no predecessor")
		}
		q := queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
			queue.ManagerConfig{Hostname: "umbra.test"})
		var buf bytes.Buffer
		d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
		d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a", ShadowServerID: "hub-a"}})
		h := Holders{R: NewReceiptShadow(d, store.DatabaseID()).WithHolders(q), Q: q}
		q.SetRestoredAskBound(time.Hour, h.RestoredServers())
		return h, q, store
	}
	h, q, store := start()
	if got := h.Unasked(); !slices.Equal(got, []string{"hub-b", "hub-c"}) || !q.RestoredAskPending() {
		t.Fatalf("first start: unasked %v, waiting %v; want both asked, the takeovers waiting", got, q.RestoredAskPending())
	}
	h.R.askedFrom.Store("hub-c", true) // its probe asked with FROM= (shadow verbs 22)
	h.restoredAnswer("hub-c")          // and answered whole, every line applied
	store.Close()                      // killed before hub-b answered

	h, q, store = start()
	if got := h.Unasked(); !slices.Equal(got, []string{"hub-b"}) || !q.RestoredAskPending() {
		t.Fatalf("after a restart: unasked %v, waiting %v; want hub-b only, the takeovers waiting for it", got, q.RestoredAskPending())
	}
	h.R.askedFrom.Store("hub-b", true)
	h.restoredAnswer("hub-b")
	if q.RestoredAskPending() {
		t.Fatal("every server answered, the takeovers still wait")
	}
	store.Close()

	h, q, store = start()
	defer store.Close()
	if got := h.Unasked(); len(got) != 0 || q.RestoredAskPending() {
		t.Fatalf("every server answered before this start: unasked %v, waiting %v; want neither asked nor waiting", got, q.RestoredAskPending())
	}
}

// SR-6 after `umbra db restore` of a holder (rrrestored40): a transport
// server of a release below shadow verbs 22 is never asked FROM= and
// lists no TAKEN line; its answer ends this start's wait as before, but
// was kept as answered for good, so that once upgraded it was never
// asked again and the copies handed to it were taken over and sent from
// here too. Only an answer to a question with FROM= is kept: a real
// probe over TCP to a scripted peer of each version, the restored
// queue's bbolt file opened again after it.
func TestSR6RestoredHolderKeepsOnlyAnswersAskedWithFrom(t *testing.T) {
	for i, tc := range []struct {
		version int
		kept    bool
	}{{21, false}, {22, true}} {
		t.Run(fmt.Sprintf("shadow verbs %d", tc.version), func(t *testing.T) {
			var asked []string
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.213:%d", 15210+i))
			if err != nil {
				t.Fatal(err)
			}
			addr := scriptedPeerOn(t, ln, fmt.Sprintf("250-holder.test\r\n250 XSHADOW %d\r\n", tc.version), func(line string) string {
				switch cmd := strings.ToUpper(line); {
				case strings.HasPrefix(cmd, "XSHADOW "):
					return "250 db-b MARK=3\r\n"
				case strings.HasPrefix(cmd, "XQUERYTAKENDONE"):
					asked = append(asked, line)
					return "250 2.0.0 0 finished here\r\n"
				case cmd == "QUIT":
					return "221 bye\r\n"
				}
				return "250 ok\r\n"
			})
			dir := t.TempDir()
			path := filepath.Join(dir, "queue.db")
			store, err := queue.Open(path, queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			backup := filepath.Join(dir, "queue.bak")
			if _, err := store.WriteBackup(backup); err != nil {
				t.Fatal(err)
			}
			store.Close()
			if _, err := queue.Restore(backup, path); err != nil {
				t.Fatal(err)
			}
			store, err = queue.Open(path, queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			q := queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
				queue.ManagerConfig{Hostname: "umbra.test"})
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.213:15299"},
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
			r := NewReceiptShadow(d, store.DatabaseID()).WithHolders(q)
			defer r.Close()
			h := Holders{R: r, Q: q}
			q.SetRestoredAskBound(time.Hour, h.RestoredServers())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := h.Probe(ctx, "hub-b"); err != nil {
				t.Fatalf("probe: %v", err)
			}
			if len(asked) != 1 || strings.Contains(asked[0], "FROM=") != (tc.version >= 22) {
				t.Fatalf("asked %q", asked)
			}
			if q.RestoredAskPending() {
				t.Fatal("hub-b answered: this start still waits")
			}
			store.Close()
			store, err = queue.Open(path, queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			q = queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
				queue.ManagerConfig{Hostname: "umbra.test"})
			if kept := len(q.RestoredUnanswered([]string{"hub-b"})) == 0; kept != tc.kept {
				t.Fatalf("hub-b kept as answered across the restart: %v, want %v", kept, tc.kept)
			}
		})
	}
}
