package shadow

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// anotherDB is the queue's refusal of a database id it keeps as another
// server's (queue.DatabaseOfAnotherError).
type anotherDB struct{ server, id, other string }

func (e *anotherDB) Error() string {
	return "transport database id " + e.id + " presented by " + e.server + " is " + e.other + "'s here; nothing changed"
}
func (e *anotherDB) AnotherServersDatabase() bool { return true }
func (e *anotherDB) PresentedDatabaseID() string  { return e.id }
func (e *anotherDB) OtherServer() string          { return e.other }

// ownedStore is fakeStore refusing, as the queue does, a database id it
// keeps as another server's: nothing recorded.
type ownedStore struct {
	*fakeStore
	owners map[string]string // database id → its server
}

func (o *ownedStore) refuse(name, dbID string) error {
	if other := o.owners[dbID]; other != "" && other != name {
		return &anotherDB{name, dbID, other}
	}
	return nil
}

func (o *ownedStore) Contact(name, dbID string, _ uint64, ids []string) (ContactResult, error) {
	if err := o.refuse(name, dbID); err != nil {
		return ContactResult{}, err
	}
	return o.fakeStore.Contact(name, dbID, 0, ids)
}

func (o *ownedStore) Presented(name, dbID string, _ uint64, ids []string) (ContactResult, error) {
	if err := o.refuse(name, dbID); err != nil {
		return ContactResult{}, err
	}
	return o.fakeStore.Presented(name, dbID, 0, ids)
}

func captureLog(m *Manager) func() string {
	var logs strings.Builder
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	m.cfg.Log, m.rec.log = l, l
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return logs.String()
	}
}

// SR-6, SR-7 (rt23a F1): hub-b restarted on a copy of hub-c's data dir
// presents hub-c's database id at every heartbeat, and the store refuses
// each contact. A refused contact is no contact: before, the heartbeat
// was taken for this server's own store failing — nothing counted, the
// next heartbeat at once (a WARN a second), the view "healthy" or a
// stale "unreachable" — and hub-b's copies waited forever. The copies
// were made against db1, which hub-b evidently no longer runs: each
// refused heartbeat counts as failed, they are taken over at the
// takeover time the view shows, the view says refused with the reply
// and since when, and the WARN comes once for the state.
func TestContactPresentingAnotherServersDatabaseTakesOverOnTime(t *testing.T) {
	m, fs, hb, clk := setup()
	fs.ps["hub-b"].DatabaseID = "db1"
	st := &ownedStore{fakeStore: fs, owners: map[string]string{"db-c": "hub-c"}}
	m.cfg.Store, m.rec.store = st, st
	logs := captureLog(m)
	obs := &countingObserver{refused: map[string]int{}}
	m.cfg.Observer, m.rec.obs = obs, obs
	hb.set(func(h *fakeHB) { h.db = "db-c" })
	step(t, m, hb, clk, 300*time.Second) // the first heartbeat, refused
	ps := m.Status()
	if len(ps) != 1 || !strings.Contains(ps[0].Refused, "is hub-c's here") || !ps[0].RefusedSince.Equal(t0.Add(300*time.Second)) {
		t.Fatalf("status after the first refused contact: %+v; want refused with the store's reply since %v", ps, t0.Add(300*time.Second))
	}
	at := ps[0].TakeoverAt
	if want := t0.Add(900 * time.Second); !at.Equal(want) {
		t.Fatalf("takeover announced at %v, want %v (3 × 300 s after the last contact)", at, want)
	}
	step(t, m, hb, clk, at.Sub(clk.Now())+time.Second)
	if tk := fs.taken(); len(tk) != 1 || !strings.Contains(tk[0], "3 heartbeats failed") {
		t.Fatalf("takeovers by %v: %v; want hub-b's copies taken over at the announced time", clk.Now(), tk)
	}
	if n := hb.n("hub-b"); n != 3 {
		t.Fatalf("%d heartbeats in 3 timeouts, want 3 (one a timeout)", n)
	}
	step(t, m, hb, clk, 600*time.Second)
	out := logs()
	if n := strings.Count(out, "contact refused: the presented transport database id is another server's"); n != 1 {
		t.Fatalf("%d WARNs of the refused contact over 5 heartbeats, want 1 (once per state):\n%s", n, out)
	}
	if obs.count(ContactRefusedDatabase) != 5 {
		t.Fatalf("%d refused contacts counted, want 5", obs.count(ContactRefusedDatabase))
	}
}

// rt23a F1, the other order: hub-b is the genuine owner of db-c, which
// this server met first as hub-c's (hub-c runs a copy of hub-b's data
// dir). hub-b's copies here were made against no other database (none
// stored, or db-c itself): nothing says hub-b lost them, so they are not
// taken over (no duplicate against the genuine owner). The view says
// refused (not healthy), heartbeats back off to one a timeout, and the
// WARN — once — says what the operator does, with a command that exists.
func TestGenuineOwnerRefusedSaysWhatToDo(t *testing.T) {
	for _, stored := range []string{"", "db-c"} {
		t.Run(fmt.Sprintf("stored=%q", stored), func(t *testing.T) {
			m, fs, hb, clk := setup()
			fs.ps["hub-b"].DatabaseID = stored
			st := &ownedStore{fakeStore: fs, owners: map[string]string{"db-c": "hub-c"}}
			m.cfg.Store, m.rec.store = st, st
			logs := captureLog(m)
			hb.set(func(h *fakeHB) { h.db = "db-c" })
			step(t, m, hb, clk, 3000*time.Second)
			if tk := fs.taken(); len(tk) != 0 {
				t.Fatalf("the genuine owner's copies taken over: %v", tk)
			}
			if n := hb.n("hub-b"); n != 10 {
				t.Fatalf("%d heartbeats in 10 timeouts, want 10", n)
			}
			ps := m.Status()
			if len(ps) != 1 || !strings.Contains(ps[0].Refused, "is hub-c's here") || !strings.Contains(ps[0].Refused, "umbra shadow forget-database db-c") ||
				!ps[0].TakeoverAt.IsZero() {
				t.Fatalf("status of the refused genuine owner: %+v; want refused, the command, no takeover", ps)
			}
			out := logs()
			if n := strings.Count(out, "contact refused: the presented transport database id is another server's"); n != 1 ||
				!strings.Contains(out, "umbra shadow forget-database db-c") {
				t.Fatalf("%d WARNs (want 1, naming the command):\n%s", n, out)
			}
		})
	}
}
