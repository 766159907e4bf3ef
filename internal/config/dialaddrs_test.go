package config

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// SMTP-6, EDGE-1, TLS-1: DialAddrs, the dial of a name's looked-up
// addresses (LDAP, milter, LMTP and topology servers, MTA-STS policy
// host), reaches the second address when the first does not answer,
// within the connect timeout: each address has its share of it, as Go's
// dialer of a name gives it, not the first all of it.
func TestSMTP6DialAddrsSecondAddressReachedWhenFirstHangs(t *testing.T) {
	var up net.Listener
	var err error
	for p := 11900; p < 12000; p++ { // this range's ports above the ldapdir and milter tests'
		if up, err = net.Listen("tcp", net.JoinHostPort("127.0.0.209", strconv.Itoa(p))); err == nil {
			break
		}
	}
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
	hang(t, "127.0.0.208", port)
	d := &net.Dialer{Timeout: 6 * time.Second}
	start := time.Now()
	c, err := DialAddrs(context.Background(), d, "tcp", "two.test", []string{"127.0.0.208", "127.0.0.209"}, strconv.Itoa(port))
	if err != nil {
		t.Fatalf("a hanging first address and an answering second: %v after %v; want connected to the second", err, time.Since(start).Round(time.Millisecond))
	}
	c.Close()
	if _, err := DialAddrs(context.Background(), d, "tcp", "none.test", nil, "25"); err == nil {
		t.Error("no address: connected")
	}
}

// hang makes ip:port a listener whose accept queue is full, so that a
// connect to it gets no answer (a host down behind a dropping firewall).
func hang(t *testing.T, ip string, port int) {
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
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	for i := 0; i < 2; i++ {
		if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	if c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the hanging listener's queue is not full")
	}
}
