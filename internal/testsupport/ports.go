package testsupport

import (
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A port picked by listening on port 0 and closed again is free only
// until someone else binds it: the kernel hands it out again as the
// local port of an outgoing connection (a daemon's session to a peer),
// or another test's process listens on it. A test that binds it later
// then fails with "address already in use". Reserve keeps the port bound
// (not listening: a connection to it is refused, as to a server that is
// down) until Listen takes it over without a gap; Listen retries a bind
// that finds an address in use for a while, for a port taken only by a
// connection that ends.

// reserved holds the sockets of the reserved addresses, by address.
var reserved = struct {
	mu  sync.Mutex
	fds map[string]int
}{fds: map[string]int{}}

// FreeAddr returns a TCP address on ip whose port was free a moment ago:
// for an address another process binds (a daemon under test). An
// address this process listens on later is Reserve's.
//
// The port is below the kernel's ephemeral range, never one handed out
// before by this process: no outgoing connection (a daemon's session to a
// peer, which may last minutes) is given it as its local port, so only a
// listener can take it between this call and the daemon's bind. A port
// from the ephemeral range was taken so, and held past any retry (CI run
// of 8bf2adad: TestCLIRedirectSuspendedQueue).
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	lo, hi := freePortRange()
	picked.mu.Lock()
	defer picked.mu.Unlock()
	for try := 0; try < 1000; try++ {
		port := lo + picked.rand.Intn(hi-lo)
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		if picked.ports[addr] {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		picked.ports[addr] = true
		return addr
	}
	t.Fatalf("no free port on %s from %d to %d", ip, lo, hi)
	return ""
}

// picked holds the addresses FreeAddr handed out, and its generator.
var picked = struct {
	mu    sync.Mutex
	ports map[string]bool
	rand  *rand.Rand
}{ports: map[string]bool{}, rand: rand.New(rand.NewSource(time.Now().UnixNano() ^ int64(os.Getpid())))}

// freePortRange returns the ports FreeAddr picks from: from 20000 (above
// the ports of the interop peers, rspamd's 11332–11334 among them) to the
// first of the kernel's ephemeral range.
func freePortRange() (lo, hi int) {
	lo, hi = 20000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if n, _ := fmt.Sscan(string(b), &first, &last); n == 2 && first > lo+1000 {
		hi = first
	}
	return lo, hi
}

// Reserve returns a TCP address on ip (IPv4) that stays this test's
// until Listen takes it over, Release gives it up or the test ends. It
// is bound without SO_REUSEADDR and not listening: no other socket can
// bind the port, and a connection to it is refused.
func Reserve(t testing.TB, ip string) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{}
	copy(sa.Addr[:], net.ParseIP(ip).To4())
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	addr := net.JoinHostPort(ip, fmt.Sprint(got.(*syscall.SockaddrInet4).Port))
	reserved.mu.Lock()
	reserved.fds[addr] = fd
	reserved.mu.Unlock()
	t.Cleanup(func() { Release(addr) })
	return addr
}

// Release gives up the reservation of addr, if any: for a port another
// process is about to bind.
func Release(addr string) {
	if fd, ok := take(addr); ok {
		syscall.Close(fd)
	}
}

// take removes the reservation of addr and returns its socket.
func take(addr string) (int, bool) {
	reserved.mu.Lock()
	defer reserved.mu.Unlock()
	fd, ok := reserved.fds[addr]
	delete(reserved.fds, addr)
	return fd, ok
}

// listenRetry bounds how long Listen retries a bind that finds the
// address in use.
const listenRetry = 10 * time.Second

// Listen listens on the TCP address addr until the test ends. A reserved
// address (Reserve) is taken over: its socket starts listening, with no
// moment in which the port is free. Another address is bound afresh,
// retried for up to ten seconds while it is in use.
func Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func listen(addr string) (net.Listener, error) {
	if fd, ok := take(addr); ok {
		f := os.NewFile(uintptr(fd), addr)
		defer f.Close() // FileListener holds a copy of the socket
		if err := syscall.Listen(fd, syscall.SOMAXCONN); err != nil {
			return nil, fmt.Errorf("listen on reserved %s: %w", addr, err)
		}
		return net.FileListener(f)
	}
	deadline := time.Now().Add(listenRetry)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inUse holds the addresses AddrInRange handed to tests still running.
var inUse = struct {
	mu    sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// AddrInRange returns a TCP address on ip with a port in first …
// first+n-1 that was free a moment ago, tried from a random one of them
// on, for tests given a range of their own. It never hands out an
// address it gave a test that is still running (a fixture picks several
// before binding any: two picks gave one port, and the second bind
// failed); the address is free for others again when that test ends.
func AddrInRange(t testing.TB, ip string, first, n int) string {
	t.Helper()
	inUse.mu.Lock()
	defer inUse.mu.Unlock()
	start := rand.Intn(n) // the package generator: safe for concurrent use
	for i := range n {
		addr := net.JoinHostPort(ip, strconv.Itoa(first+(start+i)%n))
		if inUse.addrs[addr] {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		inUse.addrs[addr] = true
		t.Cleanup(func() {
			inUse.mu.Lock()
			delete(inUse.addrs, addr)
			inUse.mu.Unlock()
		})
		return addr
	}
	t.Fatalf("no free port in %d-%d on %s", first, first+n-1, ip)
	return ""
}
