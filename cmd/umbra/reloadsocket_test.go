package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A reload that changes server.admin_socket moves the socket: the CLI
// with the edited file reaches the daemon at the new path, and nothing
// is left at the old one (rt53 R7: the CLI said "not running" while it
// ran). A new path another process holds is refused at its line, and
// the socket stays where it is.
func TestReloadMovesAdminSocket(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	old := filepath.Join(dir, "admin.sock")
	if _, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Fatalf("queue list before the reload: exit %d", code)
	}
	moved := filepath.Join(dir, "run", "admin2.sock")
	editConfig(t, cfg, "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n  admin_socket: "+moved+"\n")
	d.hup()
	waitCond(t, "the CLI to reach the daemon at the moved socket", 30*time.Second, func() bool {
		_, code := cli(t, cfg, "queue", "list")
		return code == 0
	})
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old socket %s is still there: %v", old, err)
	}
	if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "server.admin_socket") && strings.Contains(string(b), "apply only after a restart") {
		t.Errorf("the reload named server.admin_socket as needing a restart:\n%s", b)
	}

	// Another process answers at the next path: the socket stays.
	held := filepath.Join(dir, "held.sock")
	ln, err := net.Listen("unix", held)
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
	editConfig(t, cfg, "admin_socket: "+moved+"\n", "admin_socket: "+held+"\n")
	d.hup()
	waitCond(t, "the reload to refuse the move", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "the admin socket was not moved")
	})
	b, _ := os.ReadFile(d.log)
	line := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "the admin socket was not moved") {
			line = l
		}
	}
	if !strings.Contains(line, cfg+":") || !strings.Contains(line, "server.admin_socket") || !strings.Contains(line, "in use by another process") {
		t.Errorf("the refusal does not name the file, line and setting: %s", line)
	}
	if _, code := cli(t, cfg, "--socket", moved, "queue", "list"); code != 0 {
		t.Errorf("queue list at the socket that stays: exit %d", code)
	}
}
