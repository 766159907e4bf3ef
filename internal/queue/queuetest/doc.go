// Package queuetest holds test support for code built on the transport
// database: BreakWrites makes a bbolt file's writes fail in place, as a
// full disk or an I/O error does, and puts them back.
//
// Invariants: only tests import it (no package of the daemon does); it
// touches only the calling process's own descriptors of the file it is
// given, and the function it returns restores exactly the descriptor it
// replaced.
package queuetest
