// Package ratelimit is the rate limits of the receive connectors (the
// rate_limits section of a connector), an edge check of the chain in
// internal/smtp (filter.go).
//
// Scopes and what they count (each with its own window):
//
//   - address: the client's IP address (IPv4-mapped IPv6 as IPv4);
//   - network: the address's /24 (IPv4) or /64 (IPv6), ipv4_prefix and
//     ipv6_prefix;
//   - user: the authenticated user, which is the account's canonical
//     identity (an LDAP entry's stored name, never the name as typed),
//     case-folded with spaces trimmed and collapsed;
//   - sender_domain: the MAIL FROM domain, case-folded, without a
//     trailing dot, IDN U-labels as A-labels (one counter however the
//     domain is written; the null sender counts in no domain).
//
// Kinds: connections are counted when the session starts (its first
// EHLO/HELO, where the chain's connect stage runs) per address and
// network only — the user and the sender are not known yet; messages at
// each accepted-so-far MAIL; recipients at each RCPT umbra itself
// accepted (the chain runs after recipient validation). Over a limit:
// 421 4.7.0 and the connection is closed (connections), 450 4.7.1
// (MAIL, RCPT). An event is counted in every scope that limits it or in
// none: a refused attempt takes nothing, so a client that waits gets in
// again at the rate allowed.
//
// Windows slide: each counter keeps the current fixed window's count
// and the previous one's, and the estimate weights the previous by the
// part of it the sliding window still covers. Time comes from the
// injected clock; a clock stepping back stays in the current window.
//
// Exempt: transport servers of the organisation (ConnInfo.Server) and
// the connector's exempt ranges are never counted. An address the
// topology gives to a server (ConnInfo.ServerAddress) is not counted at
// connect, so that nobody sharing it or its network can keep a server
// from reaching AUTH; its MAIL and RCPT count until it proves to be a
// server.
//
// State: Counters belong to the process (cmd/umbra's edgeChecks), keyed
// by connector name, scope, kind and value; a reload builds new Checks
// over the same Counters, so counts survive it and the new limits apply
// to them. A changed window restarts that counter's windows (its
// current count kept). Counters are memory only and a restart forgets
// them (README "Rate limits" says why). Memory is bounded: at most
// maxScopeKeys counters per scope (a quarter of maxKeys each), so a
// flood of one scope's keys cannot push out another scope's counters.
// Counters idle for two windows are swept every 1024 operations. A full
// scope drops its idle counters, then the lowest estimates (the least
// recently updated first among equals), an eighth at once; a counter at
// three quarters of its limit or more is never evicted before its
// windows end (a flood must not buy a fresh limit). When only such
// counters are left, an event needing a new counter in that scope is
// refused like one over its limit, not let through uncounted.
//
// Metrics (registry passed in): umbra_ratelimit_refusals_total
// {connector, scope, kind} (configured names and fixed words; zero-filled
// per connector with limits; connections only under address and network,
// the scopes that can count it), umbra_ratelimit_tracked_keys.
package ratelimit
