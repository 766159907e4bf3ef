package ldapdir

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
	"umbra/internal/resolver/dnstest"
)

// hangingListener is a TCP listener on addr whose accept queue is full
// (backlog 0, one connection made and never accepted): a connect to it
// gets no SYN-ACK and waits, as one to a host that is down behind a
// firewall that drops.
func hangingListener(t *testing.T, ip string, port int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], net.ParseIP(ip).To4())
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the queue: these connections complete, and are never accepted.
	for i := 0; i < 2; i++ {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, itoa(port)), 300*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, itoa(port)), 500*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatal("the hanging listener accepted a connection: its queue is not full")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// SMTP-6: the directory's name with two addresses, the first not
// answering (a replica down behind a dropping firewall), the second up.
// Go's dial of the name (net.Dialer, Deadline) gave each
// address a part of the deadline and reaches the second; connect, which looks
// the name up itself (to refuse the unspecified address), must give each
// address its share too, or the first takes the whole deadline and the
// directory is unavailable although a replica answers.
func TestSMTP6LDAPNameSecondAddressReachedWhenFirstHangs(t *testing.T) {
	up, err := loopListen("127.0.0.207")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := up.Addr().(*net.TCPAddr).Port
	hangingListener(t, "127.0.0.206", port)

	d, err := New(Config{URL: "ldap://dir.test:" + itoa(port), BaseDN: "dc=example,dc=org"})
	if err != nil {
		t.Fatal(err)
	}
	d.lookupHost = func(ctx context.Context, host string) ([]string, error) {
		return []string{"127.0.0.206", "127.0.0.207"}, nil
	}
	start := time.Now()
	c, err := d.connect(start.Add(5*time.Second), "dir.test", itoa(port)) // ldap.timeout's default
	if err != nil {
		t.Fatalf("directory name with a hanging first address and an answering second: %v after %v; want connected to 127.0.0.207 within the deadline", err, time.Since(start).Round(time.Millisecond))
	}
	c.Close()
}

// The dial ldapdir made before it looked names up itself — net.Dialer{Deadline}.Dial of the
// name — with the same two addresses from DNS and the same deadline:
// it reaches the second address (the deadline divided between them).
// A control for the test above: the behaviour connect keeps.
func TestSMTP6GoDialerOfTheNameReachesTheSecondAddress(t *testing.T) {
	up, err := loopListen("127.0.0.211")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := up.Addr().(*net.TCPAddr).Port
	hangingListener(t, "127.0.0.210", port)
	dns := dnstest.Start(t, "test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"dir.test. 300 IN A 127.0.0.210", "dir.test. 300 IN A 127.0.0.211")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dns.Addr)
	}}
	addrs, _ := r.LookupHost(context.Background(), "dir.test")
	start := time.Now()
	c, err := (&net.Dialer{Deadline: start.Add(5 * time.Second), Resolver: r}).Dial("tcp", net.JoinHostPort("dir.test", itoa(port)))
	if err != nil {
		t.Fatalf("Go's dialer of the name (addresses %v): %v after %v", addrs, err, time.Since(start))
	}
	t.Logf("Go's dialer of the name (addresses %v) connected to %v after %v", addrs, c.RemoteAddr(), time.Since(start).Round(time.Millisecond))
	c.Close()
}

// loopListen listens on ip at a free port in 11700-11999 (the range
// these tests use).
func loopListen(ip string) (net.Listener, error) {
	var err error
	for p := 11700; p < 12000; p++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p))); err == nil {
			return ln, nil
		}
	}
	return nil, err
}
