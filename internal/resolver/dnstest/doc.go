// Package dnstest runs an authoritative DNS server on loopback for tests:
// the records are zone-file lines, served over UDP and TCP on one port.
// Names with no record answer NXDOMAIN; a name with records of other
// types answers NODATA; names under a Fail suffix answer SERVFAIL.
//
// Raw records (Server.Raw) are served as the bytes given, the last of the
// packet: the malformed records a broken server sends.
//
// Invariants: it binds only loopback — 127.0.0.1, or the address a test
// names (StartOn) — UDP and TCP on the same port, and
// stops in t.Cleanup; it answers only from the records it was given, so a
// test never reaches a real DNS server through it.
package dnstest
