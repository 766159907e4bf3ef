package testsupport

import (
	"math/rand"
	"net"
	"strconv"
	"testing"
)

// A port FreeAddr hands out lies below the kernel's ephemeral range (no
// outgoing connection can hold it as its local port until the daemon
// binds it) and is never handed out twice in one process.
func TestFreeAddrBelowEphemeralRangeAndNotRepeated(t *testing.T) {
	lo, hi := freePortRange()
	seen := map[string]bool{}
	for range 200 {
		a := FreeAddr(t, "127.0.0.1")
		_, p, _ := net.SplitHostPort(a)
		port, _ := strconv.Atoi(p)
		if port < lo || port >= hi {
			t.Fatalf("FreeAddr gave %s, outside %d-%d", a, lo, hi-1)
		}
		if seen[a] {
			t.Fatalf("FreeAddr gave %s twice", a)
		}
		seen[a] = true
	}
}

// Two picks of one range by a running test are two addresses, however
// small the range: a fixture picks several before it binds any.
func TestAddrInRangeNeverTheSameTwiceInATest(t *testing.T) {
	first := 20000 + rand.Intn(10000)
	a := AddrInRange(t, "127.0.0.1", first, 2)
	if b := AddrInRange(t, "127.0.0.1", first, 2); b == a {
		t.Fatalf("AddrInRange gave %s twice to a running test", a)
	}
}
