package smtp

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"umbra/internal/clock"
)

// A transport server that presents another server's database id (a copy
// of another's data dir) does so in every probe and push, each heartbeat
// timeout and each accepted message: every such session is refused
// (databaseOfAnother, refusedDatabase). The refusals are counted
// (DatabaseRefusalObserver) and logged per server (reread23 F4; rt23a
// F1 had made the WARN once per process per server and id, never again
// and uncounted): at WARN at the first, then at DEBUG, and at WARN again
// once anotherDatabaseLogEvery has passed since the last WARN, with the
// refusals not WARNed since; when that server's sessions are accepted
// again (an XSHADOW presenting its own id), an INFO line says so with
// the count, and the next refusal is WARNed at once.

// anotherDatabaseLogEvery paces the WARN per server.
const anotherDatabaseLogEvery = 10 * time.Minute

// DatabaseRefusalObserver is told of each session or copy refused for
// presenting another server's database id, by the presenting server's
// name when it is a transport server of the topology, else "other" (a
// bounded label set: the configured servers). An Observer that also
// implements it gets the calls.
type DatabaseRefusalObserver interface {
	AnotherDatabaseRefused(server string)
}

// anotherDBLog is the per-server pacing of those WARNs. Its entries are
// keyed by the lower-cased name of a server that opened a shadow
// session (an authenticated transport server): bounded by the
// configuration.
type anotherDBLog struct {
	clk clock.Clock
	mu  sync.Mutex
	by  map[string]*anotherDBEntry
}

type anotherDBEntry struct {
	warned     time.Time // the last WARN
	suppressed int       // refusals since, not WARNed
	total      int       // refusals since the first of this episode
}

func newAnotherDBLog(clk clock.Clock) *anotherDBLog {
	return &anotherDBLog{clk: clk, by: map[string]*anotherDBEntry{}}
}

// refused notes a refusal of server and reports whether it is WARNed,
// and how many refusals since the last WARN were not.
func (l *anotherDBLog) refused(server string) (warn bool, suppressed int) {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := strings.ToLower(server)
	e := l.by[k]
	if e == nil {
		e = &anotherDBEntry{}
		l.by[k] = e
	}
	e.total++
	if !e.warned.IsZero() && now.Sub(e.warned) < anotherDatabaseLogEvery {
		e.suppressed++
		return false, 0
	}
	suppressed, e.suppressed, e.warned = e.suppressed, 0, now
	return true, suppressed
}

// accepted forgets server's refusals: its session was accepted. It
// returns how many there were (0: none to tell).
func (l *anotherDBLog) accepted(server string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := strings.ToLower(server)
	e := l.by[k]
	if e == nil {
		return 0
	}
	delete(l.by, k)
	return e.total
}

// logAnotherDatabase counts and logs a session of server refused for
// presenting dbID, kept here as other's (above). Every such session is
// refused all the same.
//
// The server is marked at once (PeerRefusalHealth: queue destinations
// server:refused:NAME, its relays tried last), as a relay that meets
// this refusal marks it (shadow28 item 3: nothing showed it until a
// relay was tried). A session of it that presents an id of its own
// and that this server's relay then meets clears it (delivery
// openShadow), as before.
func (s *session) logAnotherDatabase(msg, server, dbID, other string) {
	if o, ok := s.srv.obs.(DatabaseRefusalObserver); ok {
		o.AnotherDatabaseRefused(s.serverLabel(server))
	}
	if ph := s.srv.peerHealth.Load(); ph != nil && server != "" {
		if h, ok := ph.h.(PeerRefusalHealth); ok {
			h.Unresponsive(time.Now(), "contact refused here: database id "+dbID+" is "+other+"'s here", RefusedPeerKeyPrefix+server)
		}
	}
	warn, suppressed := s.srv.anotherDBs.refused(server)
	level := slog.LevelDebug
	args := []any{"shadow_server", server, "database_id", dbID, "known_as", other, "remote", s.ip.String()}
	if warn {
		level = slog.LevelWarn
		if suppressed > 0 {
			args = append(args, "refused_since_last_warning", suppressed)
		}
	}
	s.log.Log(context.Background(), level, msg, args...)
}

// anotherDatabaseAccepted ends server's refusals for another server's
// database id: a session of it was accepted with its own.
func (s *session) anotherDatabaseAccepted(server, dbID string) {
	if n := s.srv.anotherDBs.accepted(server); n > 0 {
		s.log.Info("shadow sessions accepted again: the server presents a transport database id of its own", "shadow_server", server,
			"database_id", dbID, "refusals", n)
	}
}

// serverLabel is server as a metric label: its name when the topology
// names it as a transport server, else "other".
func (s *session) serverLabel(server string) string {
	if d := s.srv.servers.Load(); d != nil && d.d.Transport(server) {
		return strings.ToLower(server)
	}
	return "other"
}
