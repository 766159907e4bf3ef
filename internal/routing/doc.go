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
//   - Recipients sharing their next hops share a GroupKey and travel as
//     one copy (delayed fan-out); they split where the keys differ.
//   - Mailbox recipients: same site and version, directly to the mailbox
//     server; same site, other version, to a hub of that version; other
//     site, towards that site's hubs.
//   - Send connectors: most specific address space; then modern before
//     legacy; then lowest cost (address-space cost plus the path cost to
//     the nearest source server, 0 in the local site); then proximity
//     (local server, local site, remote site); then name. Site-scoped
//     connectors are invisible outside their site; disabled ones are
//     skipped. Legacy connectors are priced by the least summed
//     routing-group-connector cost; the site cost to the bridgehead only
//     breaks ties.
//   - Explain returns the same route with the reason for every choice.
package routing
