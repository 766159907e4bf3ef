package delivery

import (
	"context"
	"net/netip"
	"strings"
	"umbra/internal/mailaddr"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// orgRoutes routes, as a whole, the recipients of m that are not
// redirected (with a topology, every other one is routed by it), so that delayed
// fan-out (RT-6) sees them together: recipients whose paths go together
// past this site travel as one copy to the site where they part. Each
// route also avoids the server of the organisation the message came from
// unless its path requires it (origin). size is what the size limits
// on the way hold (size.go). ctx is the attempt's: a directory the
// topology asks for mailbox databases waits on it, marked as a wait on
// a peer by the source (queue.AwaitingPeer). A plan (plan) does no I/O:
// a recipient only the directory can route gets Route.Lookup. down
// reports a next hop none of whose servers answers now (hopDown): a fork
// site behind it carries no shared copy (routing.FanOutAround, rt56 F1).
func orgRoutes(ctx context.Context, st *state, m *queue.Message, rcpts []int, size int64, plan bool, down func(routing.NextHop) bool) map[int]routing.Route {
	tp := st.cfg.Topology
	if tp == nil {
		return nil
	}
	var idx []int
	var routes []routing.Route
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		if m.Rcpts[i].Redirect != "" {
			continue
		}
		domain := mailaddr.AddrKey(addr[strings.LastIndexByte(addr, '@')+1:])
		idx = append(idx, i)
		if plan {
			routes = append(routes, tp.PlanRoute(st.cfg.LocalServer, addr, size, st.cfg.Routing.Accepted(domain)))
		} else {
			routes = append(routes, tp.RouteContext(ctx, st.cfg.LocalServer, addr, size, st.cfg.Routing.Accepted(domain)))
		}
	}
	tp.FanOutAround(st.cfg.LocalServer, routes, down)
	origin := messageOrigin(tp, m)
	if originLostIt(st, m, origin) {
		origin = "" // a route like any other: it does not hold the original
	}
	out := make(map[int]routing.Route, len(idx))
	for k, i := range idx {
		tp.AvoidOrigin(&routes[k], origin)
		out[i] = routes[k]
	}
	return out
}

// messageOrigin is the server of the organisation m came from: the shadow
// server it named, else the server its client address belongs to. The
// shadow server of a copy on receipt (SR-17: its shadow id is the org id)
// is where the copy is kept, not where the message came from. Nor is the
// shadow server a DSN this server made carries (it owes the discard of
// the copy of the message it reports on): the DSN came from no server,
// and avoiding that one would hold it for the other hubs of its site
// only, lost if they are down (rt56 F6).
func messageOrigin(tp *routing.Topology, m *queue.Message) string {
	if m.OwnDSN() {
		return ""
	}
	if _, ok := tp.Server(m.ShadowServer); ok && !m.CopiedOnReceipt() {
		return m.ShadowServer
	}
	if ip, err := netip.ParseAddr(m.ClientIP); err == nil {
		return tp.ServerFrom(ip)
	}
	return ""
}

// originLostIt reports whether origin, the server m came from, no longer
// holds m's original (rt27a F3): m carries a copy taken over from it,
// under the database the copy was made against (Message.TakenUnder:
// every kind of takeover records it — failed heartbeats, a new database
// met (SR-7), expiry, the operator's takeover), and origin runs another
// database now — it came back with a new one, which holds nothing of m.
// Sending m there is then no return to the server that has it: a route
// like any other, and often the only live server of its site. A copy
// taken over under origin's current database, or whose entry names none
// (written by an earlier release), keeps the rule (shadow28 item 2: one
// taken over at SR-7 named none, and kept avoiding the server that had
// lost it).
func originLostIt(st *state, m *queue.Message, origin string) bool {
	if origin == "" || st.cfg.Shadows == nil {
		return false
	}
	// Keyed by the queue's one spelling of a primary (queue/primaryfold.go);
	// origin is the topology's.
	taken := m.TakenUnder[queue.PrimaryKey(origin)]
	if taken == "" {
		return false
	}
	pd, ok := st.cfg.Shadows.(interface{ PrimaryDatabase(string) string })
	if !ok {
		return false
	}
	now := pd.PrimaryDatabase(origin)
	return now != "" && now != taken
}
