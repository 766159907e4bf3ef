package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sendNoWait submits one message on a connection of its own without
// reading the reply to its data: the caller kills the server meanwhile.
func sendNoWait(addr, subject string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	line := func(s string) error {
		if s != "" {
			if _, err := fmt.Fprintf(c, "%s\r\n", s); err != nil {
				return err
			}
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(l) < 4 || l[3] != '-' {
				return nil
			}
		}
	}
	for _, s := range []string{"", "EHLO client.example", "MAIL FROM:<a@example.org>", "RCPT TO:<x@remote.example>", "DATA"} {
		if err := line(s); err != nil {
			c.Close()
			return nil, err
		}
	}
	fmt.Fprintf(c, "Subject: %s\r\n\r\nhello\r\n.\r\n", subject)
	return c, nil
}

// rt55 F4: hub-a commits a message received with shadow on receipt,
// naming hub-b, and is killed -9 while the push to hub-b (stopped) runs.
// After the restart hub-a has no proof of the copy: it asks hub-b at its
// next probe (giveback47); hub-b stopped, past the takeover bound it
// lists the message held by this server only, its push to hub-b shown
// unconfirmed (not "copy: on hub-b"), and makes the copy once hub-b
// answers again.
func TestReceiptPushCutByKillIsHeldHereOnly(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	a, b, cfgA, cfgB := o.a, o.b, o.cfgA, o.cfgB
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	// The first copy opens the session to hub-b that the next reuses.
	if reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b", reply)
	}
	hb.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			hb.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	c, err := sendNoWait(a, "second")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitLogCount(t, ha, "message accepted", 2) // committed; its push hangs
	ha.kill()
	ha = startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	var id string
	waitCond(t, "hub-a to list the message held by it only", 30e9, func() bool {
		out, code := cli(t, cfgA, "shadow", "single")
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); code == 0 && len(f) > 1 && f[1] == "hub-b" {
				id = f[0]
				return true
			}
		}
		return false
	})
	// Its push's outcome unknown: a copy may exist on hub-b (rcpt47
	// item 1), not "held by this server only".
	if out, _ := cli(t, cfgA, "message", "show", id); !strings.Contains(out, "unconfirmed push to hub-b (may hold a copy)") {
		t.Fatalf("message show %s:\n%s\nwant its copy unconfirmed, one that may exist on hub-b", id, out)
	}
	hb.cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	waitCond(t, "hub-a to make the copy again", 60e9, func() bool {
		out, code := cli(t, cfgA, "shadow", "single")
		return code == 0 && strings.HasPrefix(strings.TrimSpace(out), "none:")
	})
	p := &shadowPair{}
	waitCond(t, "hub-b to hold both copies once", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 2 })
}
