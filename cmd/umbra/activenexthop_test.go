package main

import (
	"bufio"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hangSink is an SMTP server that takes a message's DATA and never
// answers its final dot: an attempt to it stays in progress until the
// test ends.
func hangSink(t *testing.T) string {
	t.Helper()
	return hangSinkAt(t, "127.0.0.1:0")
}

// hangSinkAt is hangSink listening on addr.
func hangSinkAt(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				go func() { <-done; c.Close() }()
				c.Write([]byte("220 hang.test ESMTP\r\n"))
				r := bufio.NewReader(c)
				inData := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case inData:
						if cmd == "." {
							inData = false // and never answer
						}
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte("250-hang.test\r\n250 PIPELINING\r\n"))
					case cmd == "DATA":
						inData = true
						c.Write([]byte("354 go on\r\n"))
					case cmd == "QUIT":
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// a recipient whose attempt runs shows the next hop of that attempt,
// or none yet, never the last attempt's: after a queue redirect, the
// first attempt to the new server showed `active` with the host that
// refused connections as its next hop (rt26c F3), in message show and
// its --json (the console shows the same view).
func TestActiveRecipientShowsNoStaleNextHop(t *testing.T) {
	dir := t.TempDir()
	listen, deadAddr := freeAddr(t, "127.0.0.195"), freeAddr(t, "127.0.0.196")
	cfg := relayConfig(t, dir, listen, deadAddr)
	d := startUmbra(t, cfg, listen)
	if ok, err := send(listen, "stale-hop"); !ok {
		t.Fatalf("send: %v", err)
	}
	sink := hangSink(t)
	_, deadPort, _ := net.SplitHostPort(deadAddr)
	type rcpt struct {
		Address, Status, Queue string
		NextHop                string `json:"next_hop"`
	}
	var id string
	waitCond(t, "the message deferred at the dead smart host", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var list []struct {
			ID         string `json:"id"`
			Recipients []rcpt `json:"recipients"`
		}
		json.Unmarshal([]byte(out), &list)
		if len(list) == 1 {
			id = list[0].ID
		}
		show, _ := cli(t, cfg, "message", "show", "--json", id)
		return id != "" && strings.Contains(show, deadPort)
	})
	waitCond(t, "the redirect", 30*time.Second, func() bool {
		out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", sink, "--json")
		return code == 0 && strings.Contains(out, `"messages": 1`)
	})
	var r rcpt
	waitCond(t, "the recipient active at the new server", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "show", "--json", id)
		var m struct {
			Recipients []rcpt `json:"recipients"`
		}
		json.Unmarshal([]byte(out), &m)
		if len(m.Recipients) == 1 {
			r = m.Recipients[0]
		}
		return strings.HasPrefix(r.Status, "active")
	})
	if strings.Contains(r.NextHop, deadPort) {
		t.Errorf("--json: active recipient %+v shows the last attempt's next hop (the dead smart host %s)", r, deadAddr)
	}
	text, _ := cli(t, cfg, "message", "show", id)
	// Its NEXT HOP column (LAST REPLY is the last attempt's, rightly).
	for _, line := range strings.Split(text, "\n") {
		if cols := regexp.MustCompile(`\s{2,}`).Split(line, -1); len(cols) >= 4 && cols[0] == "b@remote.example" &&
			(strings.Contains(cols[3], deadPort) || !strings.Contains(cols[3], "not known yet")) {
			t.Errorf("message show: next hop %q of the active attempt, want it not known yet (the last was the dead %s)", cols[3], deadAddr)
		}
	}
	if t.Failed() {
		t.Logf("message show:\n%s", text)
		d.dumpLog()
	}
}
