// Package testsupport is what the tests of several packages share:
// loopback ports held from their choice to their use (Reserve, Listen),
// an accept loop that closes what it accepted when the test ends
// (Serve), a peer that takes connections and never answers (Silent), and
// a scripted transport server for shadow clients (StartHub).
//
// Invariants:
//   - Only _test.go files and the test helper packages (slapdtest,
//     dnstest, queuetest) import it, and the umbra binary depends on none
//     of them (cmd/umbra's TestImportGraph holds both): nothing of it is
//     in the binary.
//   - A port FreeAddr picks lies below the kernel's ephemeral range, so
//     no outgoing connection holds it as its local port before the
//     daemon that was given it binds it.
//   - It imports no umbra package: every package's tests may use it.
//   - Everything it starts ends with the test (t.Cleanup): listeners are
//     closed and every connection accepted is closed, so a hung peer
//     holds no goroutine of the code under test past the test.
//   - It only ever listens on the address it is given (tests give
//     loopback addresses) and never dials out.
package testsupport
