package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// rt33b F2's sibling (OPS-1): the server section applies only at a
// restart, and a reload that changes it says so; it must then change
// none of it. A reload that renamed the server (server.name, which a
// restart alone applies) had delivery greet next hops by the new name
// while the receive side, the shadow sessions and the logs kept the old
// one: delivery is built from the running server section too.
func TestOPS1ReloadRenamingServerAppliesNoneOfIt(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.162")
	sink := freeAddr(t, "127.0.0.163")
	var mu sync.Mutex
	var ehlos []string
	got := make(chan struct{}, 10)
	testsupport.Serve(t, sink, func(c net.Conn) {
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			c.Write([]byte("220 sink.test ESMTP\r\n"))
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch u := strings.ToUpper(l); {
				case strings.HasPrefix(u, "EHLO"), strings.HasPrefix(u, "HELO"):
					mu.Lock()
					ehlos = append(ehlos, strings.TrimSpace(l))
					mu.Unlock()
					c.Write([]byte("250-sink.test\r\n250 SIZE 10000000\r\n"))
				case strings.HasPrefix(u, "DATA"):
					c.Write([]byte("354 go\r\n"))
					for {
						d, err := r.ReadString('\n')
						if err != nil || d == ".\r\n" {
							break
						}
					}
					c.Write([]byte("250 ok\r\n"))
					got <- struct{}{}
				case strings.HasPrefix(u, "QUIT"):
					c.Write([]byte("221 bye\r\n"))
					return
				default:
					c.Write([]byte("250 ok\r\n"))
				}
			}
		}()
	})
	text := umbraTestHub(dir, "transport:\n  retry_schedule: [1h]\n", listen, "submit, relay", "max_acknowledgement_delay: 0s", "out",
		fmt.Sprintf("smart_hosts: [%q]\ntls: none", sink), "")
	cfg := writeConfig(t, dir, text)
	d := startUmbra(t, cfg, listen)
	if err := os.WriteFile(cfg, []byte(strings.Replace(text, "name: hub.umbra.test", "name: renamed.umbra.test", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return reloadOutcome(string(b))
	})
	if l := logLinesWith(d, "apply only after a restart"); len(l) != 1 || !strings.Contains(l[0], "server.name") {
		d.dumpLog()
		t.Fatalf("the reload that renamed the server: %q; want it to name server.name as needing a restart", l)
	}
	if reply := rawSend(t, listen, "a@umbra.test", []string{"x@outside.test"}, "Subject: t\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("send: %q", reply)
	}
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		d.dumpLog()
		t.Fatal("the message never reached the smart host")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range ehlos {
		if e != "EHLO hub.umbra.test" {
			t.Errorf("delivery greeted the next hop %q after a reload that renamed the server; want the running name, EHLO hub.umbra.test", e)
		}
	}
}
