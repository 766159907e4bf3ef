package milter

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"umbra/internal/config"
)

// hangingListener: a listener on ip:port whose accept queue is full, so
// that a connect to it waits (a host down behind a dropping firewall).
func hangingListener(t *testing.T, ip string, port int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], net.ParseIP(ip).To4())
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), 300*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the hanging listener's queue is not full")
	}
}

// EDGE-1 (milter): an inet: host name with two addresses, the first not
// answering, the second the milter. Dialled by name, Go's
// dialer splits connect_timeout between the addresses and reaches the
// second; the dial that looks the name up itself must too: one that dials
// each under the whole of it (open's
// context), so the first takes it all and the milter fails (on_failure)
// although it answers at the second address.
func TestEDGE1MilterNameSecondAddressReachedWhenFirstHangs(t *testing.T) {
	up, err := loopListen("127.0.0.209")
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
	hangingListener(t, "127.0.0.208", port)
	timeout := 6 * time.Second
	c, err := New(config.Milter{Name: "m", Address: "inet:milter.test:" + strconv.Itoa(port), ConnectTimeout: config.Duration(timeout)}, "mx.test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.lookup = func(ctx context.Context, host string) ([]string, error) {
		return []string{"127.0.0.208", "127.0.0.209"}, nil
	}
	dctx, cancel := context.WithTimeout(context.Background(), timeout) // as session.open
	defer cancel()
	start := time.Now()
	conn, err := c.dial(dctx, c.network, c.address)
	if err != nil {
		t.Fatalf("milter name with a hanging first address and an answering second: %v after %v; want connected to 127.0.0.209 within connect_timeout", err, time.Since(start).Round(time.Millisecond))
	}
	conn.Close()
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
