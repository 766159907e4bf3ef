package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: rt33c F4's sibling — another program's socket that
// does not speak HTTP at all (an SSH agent, a database) said "umbra
// stopped during the command … (it was running when that began; see
// its log, and start it again): … malformed HTTP response", exit 69:
// untrue (no umbra ran there) and Go's words. It is the wrong path.
func TestSocketThatSpeaksNoHTTPIsNotUmbras(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", other)
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
			go func() { // the request read, then a banner that is no HTTP
				c.Read(make([]byte, 4096))
				c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
				c.Close()
			}()
		}
	}()
	for _, args := range [][]string{{"queue", "list"}, {"message", "list"}, {"dumpster", "list"}} {
		code, out := runSock(t, append([]string{"--socket", other}, args...)...)
		if code != exitUsage || !strings.Contains(out, "is not umbra's admin socket") || !strings.Contains(out, other) ||
			strings.Contains(out, "umbra stopped") || strings.Contains(out, "start it again") {
			t.Errorf("--socket %s %v: exit %d\n%s\nwant exit %d: not umbra's admin socket", other, args, code, out, exitUsage)
		}
	}
}
