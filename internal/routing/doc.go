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
// The site topology (RT-1 … RT-11) extends this Table.
package routing
