// Package ratelimit is the rate limits of the receive connectors (the
// rate_limits section of a connector), an edge check of the chain in
// internal/smtp (filter.go).
//
// Scopes and what they count (each with its own window):
//
//   - address: the client's IP address (IPv4-mapped IPv6 as IPv4);
//   - network: the address's /24 (IPv4) or /64 (IPv6), ipv4_prefix and
//     ipv6_prefix;
//   - user: the authenticated user name (case-folded);
//   - sender_domain: the MAIL FROM domain (case-folded; the null sender
//     counts in no domain).
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
// the connector's exempt ranges are never counted.
//
// State: Counters belong to the process (cmd/umbra's edgeChecks), keyed
// by connector name, scope, kind and value; a reload builds new Checks
// over the same Counters, so counts survive it and the new limits apply
// to them. A changed window restarts that counter's windows (its
// current count kept). Counters are memory only and a restart forgets
// them (README "Rate limits" says why). Memory is bounded: counters
// idle for two windows are swept every 1024 operations, and at maxKeys
// the least recently updated eighth is dropped.
//
// Metrics (registry passed in): umbra_ratelimit_refusals_total
// {connector, scope, kind} (configured names and fixed words; zero-filled
// per connector with limits), umbra_ratelimit_tracked_keys.
package ratelimit
