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
// configuration. The bind refusals (session.go bindRefused) key a name
// the topology does not know by its source, which the peer chooses: at
// most maxLogKeys entries, the keys past them sharing one (refused).
type anotherDBLog struct {
	clk   clock.Clock
	every time.Duration // the pace per key; anotherDatabaseLogEvery unless set
	mu    sync.Mutex
	by    map[string]*anotherDBEntry
}

type anotherDBEntry struct {
	warned     time.Time // the last WARN
	suppressed int       // refusals since, not WARNed
	total      int       // refusals since the first of this episode
}

func newAnotherDBLog(clk clock.Clock) *anotherDBLog {
	return &anotherDBLog{clk: clk, every: anotherDatabaseLogEvery, by: map[string]*anotherDBEntry{}}
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
		if len(l.by) >= maxLogKeys {
			l.sweepLocked(now)
		}
		if len(l.by) >= maxLogKeys {
			// Bounded whatever its keys, and paced all the same: the
			// keys past the bound share one entry (as the refusal log's
			// sources do). Starting the pacing over for every key let
			// a source that chooses its keys (a name the topology does
			// not know, from ever new addresses) evict the entries of
			// the real ones and have each refusal WARNed.
			k = overflowKey
		}
		if e = l.by[k]; e == nil {
			e = &anotherDBEntry{}
			l.by[k] = e
		}
	}
	e.total++
	if !e.warned.IsZero() && now.Sub(e.warned) < l.every {
		e.suppressed++
		return false, 0
	}
	suppressed, e.suppressed, e.warned = e.suppressed, 0, now
	return true, suppressed
}

// overflowKey is the entry the keys past maxLogKeys share.
const overflowKey = "\x00*"

// sweepLocked forgets the entries whose next refusal is WARNed anyway:
// their last WARN is anotherDatabaseLogEvery old and nothing was
// refused since. Only their count for accepted's INFO line goes.
func (l *anotherDBLog) sweepLocked(now time.Time) {
	for k, e := range l.by {
		if e.suppressed == 0 && now.Sub(e.warned) >= l.every {
			delete(l.by, k)
		}
	}
}

// keepServers drops the entries of the servers d does not have as
// transport servers (all of them when d is nil): a reload removed them.
// The entry the keys past maxLogKeys share stays.
func (l *anotherDBLog) keepServers(d ServerDirectory) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.by {
		if k != overflowKey && (d == nil || !d.Transport(k)) {
			delete(l.by, k)
		}
	}
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
// this refusal marks it (nothing showed it until a relay was tried),
// under the topology's spelling of its name (topologyName), the key
// delivery reads and clears. A session of it let in again presenting
// an id of its own clears the mark (anotherDatabaseAccepted), as a
// relay of this server's that is let in there does (delivery
// openShadow).
func (s *session) logAnotherDatabase(msg, server, dbID, other string) {
	if o, ok := s.srv.obs.(DatabaseRefusalObserver); ok {
		o.AnotherDatabaseRefused(s.serverLabel(server))
	}
	if ph := s.srv.peerHealth.Load(); ph != nil && server != "" {
		if h, ok := ph.h.(PeerRefusalHealth); ok {
			h.Unresponsive(time.Now(), "contact refused here: database id "+dbID+" is "+other+"'s here", RefusedPeerKeyPrefix+s.topologyName(server))
		}
	}
	// Told with the refusal of server's sessions it may be (shadow
	// list's WHY: noteShadowSession).
	s.refusalCause = "its last one presented the transport database id " + dbID + ", which this server knows as " + other +
		"'s (a copy of that server's data directory? see the WARN \"" + msg + "\")"
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
// The mark this server's refusals set (logAnotherDatabase) is cleared
// with them: only when there were refusals here since the last session
// let in, so that a mark a relay of this server's set (the peer refuses
// this server's database) stays until a relay is let in there.
//
// The shadow view's refusal of the server's contacts (RefusalEnder) ends
// at every such session, refusals here or none: this server's heartbeat
// or relay may have been the one refused, and the server presents an
// id of its own now.
func (s *session) anotherDatabaseAccepted(server, dbID string) {
	if e := s.srv.ender.Load(); e != nil && server != "" {
		e.e.SessionAcceptedHere(s.topologyName(server), dbID)
	}
	if n := s.srv.anotherDBs.accepted(server); n > 0 {
		s.log.Info("shadow sessions accepted again: the server presents a transport database id of its own", "shadow_server", server,
			"database_id", dbID, "refusals", n)
		if ph := s.srv.peerHealth.Load(); ph != nil {
			ph.h.Responsive(RefusedPeerKeyPrefix + s.topologyName(server))
		}
	}
}

// NamedDirectory is a ServerDirectory that gives the topology's own
// spelling of a server's name (routing.Topology.ServerName).
type NamedDirectory interface {
	ServerName(name string) (string, bool)
}

// topologyName is server as the topology spells it (a session may state
// it in another case), server itself when the topology does not know it.
func (s *session) topologyName(server string) string {
	if d := s.srv.servers.Load(); d != nil {
		if nd, ok := d.d.(NamedDirectory); ok {
			if n, ok := nd.ServerName(server); ok {
				return n
			}
		}
	}
	return server
}

// serverLabel is server as a metric label: its name when the topology
// names it as a transport server, else "other".
func (s *session) serverLabel(server string) string {
	if d := s.srv.servers.Load(); d != nil && d.d.Transport(server) {
		return strings.ToLower(server)
	}
	return "other"
}
