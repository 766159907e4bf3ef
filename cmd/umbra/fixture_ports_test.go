package main

import (
	"testing"

	"umbra/internal/testsupport"
)

// Addresses of tests: free ports in a range a test file was given.

// addrInRange is a free TCP address on ip with a port in first …
// first+n-1, tried from a random one of them on.
func addrInRange(t testing.TB, ip string, first, n int) string {
	t.Helper()
	return testsupport.AddrInRange(t, ip, first, n)
}
