// Package routing decides where mail goes. It is pure: functions over an
// immutable Table, no I/O, no clock, and no import of another umbra
// package (cmd/umbra converts the configuration into Table inputs).
//
// Today the Table knows the accepted domains and the send connectors:
//   - Accepted answers whether a domain is one of the organisation's, and
//     of which type (authoritative: delivered to mailboxes here; internal
//     or external relay: accepted, then sent on). "*.example.org" matches
//     every subdomain of example.org, not example.org itself; an exact
//     entry beats a wildcard.
//   - Route picks the send connector for a recipient domain (SPEC RT-9):
//     the most specific matching address space wins ("a.b.c" beats
//     "*.b.c" beats "*.c" beats "*"); then the lowest address-space cost;
//     then the connector name in byte order, so the choice is
//     deterministic. Disabled connectors are never chosen.
//
// Topology (topology.go, route.go) is the organisation's site graph and
// servers (SPEC RT-1 … RT-11), an immutable snapshot:
//   - Site membership is configured or derived from a server's address by
//     the longest matching subnet.
//   - Least-cost paths: summed link cost (a link's umbra cost replaces its
//     cost), then fewest hops, then the predecessor site whose name sorts
//     first. Dijkstra runs once per source site and topology version and
//     is cached; routing a recipient does no graph search.
//   - From a path: relay directly to the destination site unless a hub
//     site lies on it (then to the first one); the sites between, nearest
//     the destination first, follow as queue-at-point-of-failure
//     fallbacks. A link with a max size smaller than the message on the
//     path gives an NDR; no other path is tried.
//   - Delayed fan-out (FanOut, RT-6): recipients of one message whose
//     paths leave this site over the same link travel as one copy to the
//     hubs of the site where their paths part (or the last site with
//     hubs before it); that hub splits it. Paths from one site form a
//     tree (one predecessor per site), and a subpath of a least-cost
//     path is least-cost with costs >= 1, so the fork site never routes
//     the copy back. Recipients sharing their next hops share a GroupKey
//     and travel as one copy; they split where the keys differ. Delivery
//     uses FanOutAround, which knows which hops answer: a fork site none of
//     whose hubs answers carries no shared copy, and the recipients leave
//     as the copies of their own routes (rt56 F1).
//   - AvoidOrigin: a route does not go back to the organisation server
//     the message came from, unless that server is its only next hop.
//   - Mailbox databases: the exact address in the recipient map, then
//     the domain, then the longest "*.domain". A DatabaseSource set with
//     SetDatabases (the LDAP directory, assign.go) is asked first; its
//     answer must name a database of the topology. When it cannot answer,
//     Route.Tempfail says so and the recipient waits (no guess from the
//     recipient map); the reply says whether it did not answer in time
//     (451 4.4.3). Routing does no I/O itself: the source bounds its own
//     time, honours the caller's context (RouteContext) and caches its
//     answers. PlanRoute, a delivery's plan, asks only the cache: a
//     recipient it would have to ask the directory for gets Route.Lookup,
//     and the attempt routes it again with RouteContext.
//   - Who a connection is from (ServerAt, ServerFrom, ServerAddressed),
//     whether two servers are one host (SameHost) and which server an
//     address or a smart host is (ServerWithAddress, SmartHostServer: an
//     IP address at the server's port) read a server's
//     Address host as an IP address, or, for a host name, the addresses
//     the caller resolved once per load and gave with SetHostAddresses
//     before sharing the topology (hostaddrs.go; routing itself never
//     resolves): a name that did not resolve counts for no address.
//     HostAddresses gives a load's addresses of a name back, so the
//     caller keeps them at a reload whose lookup failed for a time.
//   - NewTopology is total: every numeric field is ranged (link cost
//     1..99999, routing-group connector cost 1..100 with 0 meaning 1,
//     address-space cost 0..100, sizes >= 0), every reference resolves,
//     routing-group connectors on the modern side have hub bridgeheads,
//     and the site graph and every legacy routing group are reachable.
//     Routing any recipient of an accepted topology gives a route, an
//     NDR, or a documented wait; it never panics or loops (FuzzRoute).
//   - This server's own mailbox store: a recipient the topology gives
//     no database (no group, no directory assignment, no entry of the
//     recipient map) whose domain is authoritative on this server goes
//     into the server's own store — the configuration's mailbox:, which
//     routing does not know: a mailbox next hop with no server and no
//     database, as Table.Explain gives without a topology. Never the
//     send connectors (the organisation's own mail would leave it). An
//     edge sends every accepted recipient to the hubs of its site
//     instead. config.CheckLocalStore keeps the store the server's own:
//     a domain needs it only when the map does not cover the domain, and
//     it is no server or database of the topology (which would deliver
//     around RT-8). Delivery (plan, fan-out, callout) and route explain
//     both take Route's answer for every recipient that is not
//     redirected, so they cannot differ (cmd/umbra
//     TestRouteExplainIsTheDeliveryPlan).
//   - Mailbox recipients: same site and version, directly to the mailbox
//     server; same site, other version, to a hub of that version; other
//     site, towards that site's hubs of the mailbox server's version
//     (config refuses a topology where a mailbox site has none).
//   - Send connectors: most specific address space; then modern before
//     legacy; then lowest cost (address-space cost plus the path cost to
//     the nearest source server, 0 in the local site); then proximity
//     (local server, local site, remote site); then name. One function
//     decides this order (compareRanks, rank.go) for Topology's choice —
//     a relaying hub's and route explain's, the same call — and for
//     Table.Route without a topology (every connector this server's: a
//     tie by name); the key it reports is what explain says. Site-scoped
//     connectors are invisible outside their site; disabled ones are
//     skipped, legacy ones exactly as modern ones (a legacy server is in
//     no site, so a site-scoped legacy connector is out of scope
//     everywhere). Legacy connectors are priced by the least summed
//     routing-group-connector cost; the site cost to the first
//     connector's bridgehead only breaks ties, then the connector's
//     name. A size limit on any connector of the chain gives an NDR. A
//     mailbox database on a legacy server is reached over the same
//     chain to that server's routing group.
//   - Explain returns the same route with the reason for every choice.
package routing
