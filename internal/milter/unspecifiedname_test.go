package milter

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
)

// SMTP-4, EDGE-1: a milter's inet: address at 0.0.0.0 or :: is refused
// at load, but a host name there that resolves to the unspecified
// address was connected to when the session opened — which reaches this
// machine itself (here a listener on loopback, another program's, not
// the milter). The name is refused when it is looked up: its unspecified
// addresses are never connected to, and one with no other fails the
// milter's connect naming it (the "milter failed" line; on_failure
// answers).
func TestSMTP4MilterNameResolvingToUnspecifiedRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, unspecified := range []string{"0.0.0.0", "::", "::ffff:0.0.0.0"} {
		c, err := New(config.Milter{Name: "m", Address: "inet:milter.test:" + port, ConnectTimeout: config.Duration(2 * time.Second)}, "mx.test", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.lookup = func(ctx context.Context, host string) ([]string, error) { return []string{unspecified}, nil }
		conn, err := c.dial(context.Background(), c.network, c.address)
		if conn != nil {
			conn.Close()
		}
		var ue *config.UnspecifiedNameError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "host name milter.test resolves to "+unspecified+", the unspecified address") {
			t.Errorf("milter host resolving to %s: connected %v, err %v; want refused naming the name and the address", unspecified, conn != nil, err)
		}
	}
}
