// Package testsupport is what the tests of several packages share:
// loopback ports held from their choice to their use (Reserve, Listen),
// an accept loop that closes what it accepted when the test ends
// (Serve), a peer that takes connections and never answers (Silent), and
// a scripted transport server for shadow clients (StartHub).
//
// Invariants:
//   - Only _test.go files import it (cmd/umbra's TestImportGraph holds
//     that): nothing of it is in the umbra binary.
//   - It imports no umbra package: every package's tests may use it.
//   - Everything it starts ends with the test (t.Cleanup): listeners are
//     closed and every connection accepted is closed, so a hung peer
//     holds no goroutine of the code under test past the test.
//   - It only ever listens on the address it is given (tests give
//     loopback addresses) and never dials out.
package testsupport
