package main

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Addresses of tests: free ports in a range a test file was given.

// addrInRange is a free TCP address on ip with a port in first …
// first+n-1, tried from a random one of them on.
func addrInRange(t testing.TB, ip string, first, n int) string {
	t.Helper()
	start := rand.IntN(n)
	for i := range n {
		addr := net.JoinHostPort(ip, strconv.Itoa(first+(start+i)%n))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatalf("no free port in %d-%d on %s", first, first+n-1, ip)
	return ""
}
