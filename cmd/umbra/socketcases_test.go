package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3 (rt24c F2, F6, F13, F3, F5): what a command says of a running
// daemon whose admin socket's path holds something else, or whose
// configuration file is mid-edit, by the README's words and exit codes:
//   - a regular file at the path, the daemon named by --config or by a
//     relative --socket: "umbra runs, but its admin socket is gone", exit
//     69 (was: the file's config error, exit 2; "starting", exit 75);
//   - another process's socket there that answers HTTP 500, or closes:
//     gone, exit 69 (was: an empty "umbra: ", exit 1; "umbra stopped");
//   - the daemon's ERROR for the regular file names its kind as config
//     check does, "a regular file" (was "(----------)");
//   - a syntax slip in the file (a duplicate key, an unclosed [, a bad
//     indent) with the socket in place: the command asks the daemon and
//     warns, exit 0 (was exit 2);
//   - the socket removed and the file mid-edit: gone, exit 69, SIGHUP
//     named (was the file's error alone, exit 2).
func TestCommandsTellSocketCases(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The socket outside the data directory, as installed (/run/umbra,
	// /var/lib/umbra): a command finds the daemon's database from the
	// file, mid-edit too, not beside the socket.
	sock := filepath.Join(dir, "run", "admin.sock")
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	good = []byte(strings.Replace(string(good), "server:\n", fmt.Sprintf("server:\n  admin_socket: %q\n", sock), 1))
	if err := os.WriteFile(cfg, good, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	pid := d.cmd.Process.Pid
	hups := 0
	hup := func() {
		t.Helper()
		hups++
		d.hup()
		waitCond(t, "the reload", 30*time.Second, func() bool {
			b, _ := os.ReadFile(d.log)
			return strings.Count(string(b), "configuration reloaded")+strings.Count(string(b), "reload failed") >= hups
		})
	}
	// run is the CLI in dir (a relative --socket is relative to it).
	run := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(umbraBin, args...)
		cmd.Dir = dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), stderr.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, stderr.String()
	}
	type want struct {
		code  int
		words []string // each in stderr
	}
	goneWords := []string{"umbra runs, but its admin socket is gone", fmt.Sprintf("pid %d", pid), fmt.Sprintf("kill -HUP %d", pid)}
	check := func(state string, w want, cases ...[]string) {
		t.Helper()
		for _, args := range cases {
			code, errOut := run(args...)
			bad := code != w.code || strings.Contains(errOut, "starting") || strings.Contains(errOut, "not running") ||
				strings.Contains(errOut, "umbra stopped") || strings.HasSuffix(strings.TrimSpace(errOut), "umbra:")
			for _, s := range w.words {
				bad = bad || !strings.Contains(errOut, s)
			}
			if bad {
				t.Errorf("%s: umbra %s: exit %d %q\nwant exit %d with %q", state, strings.Join(args, " "), code, errOut, w.code, w.words)
			}
		}
	}
	byConfig := []string{"--config", cfg, "queue", "list"}
	bySocket := []string{"--socket", filepath.Join("run", "admin.sock"), "queue", "list"}

	// A regular file at the path (F2), and the daemon's ERROR for it (F13).
	os.Remove(sock)
	if err := os.WriteFile(sock, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("a regular file at the socket's path", want{exitUnavailable, append(goneWords, "a regular file is there now", "Remove that file")}, byConfig, bySocket)
	hup()
	if b, _ := os.ReadFile(d.log); !strings.Contains(string(b), "not a socket is there (a regular file)") || strings.Contains(string(b), "----------") {
		t.Errorf("the daemon's ERROR for a regular file at the socket's path does not say so in config check's words:\n%s", b)
	}
	os.Remove(sock)
	hup()
	check("the socket made again", want{0, nil}, byConfig)

	// Another process's socket at the path (F6), answering 500 or closing.
	for _, mode := range []string{"http500", "close"} {
		os.Remove(sock)
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if mode == "http500" {
					c.SetDeadline(time.Now().Add(5 * time.Second))
					c.Read(make([]byte, 1000))
					c.Write([]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"))
				}
				c.Close()
			}
		}()
		check("another process's socket at the path ("+mode+")", want{exitUnavailable, append(goneWords, "replaced since by the socket of pid", "Remove that file")}, byConfig, bySocket)
		ln.Close()
		os.Remove(sock)
		hup()
		check("the socket made again", want{0, nil}, byConfig)
	}

	// Syntax slips with the socket in place (F5): the daemon asked, a warning.
	text := string(good)
	slips := map[string]string{
		"a duplicate key":           strings.Replace(text, "  name: hub.e2e.test\n", "  name: hub.e2e.test\n  name: hub2.e2e.test\n", 1),
		"an unclosed [ at the end":  text + "recipients:\n  file: [unclosed\n",
		"a bad indent in server":    strings.Replace(text, "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n   bad_indent: 1\n", 1),
		"a tab before a later line": strings.Replace(text, "  retry_jitter: 0.1\n", "\tretry_jitter: 0.1\n", 1),
	}
	for what, s := range slips {
		if s == text {
			t.Fatalf("%s: the slip was not made", what)
		}
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		check("the file with "+what, want{0, []string{"warning:", "asking the daemon on " + sock}}, byConfig,
			[]string{"--config", cfg, "message", "list"})
	}
	// Another process's socket there while the file is mid-edit.
	os.Remove(sock)
	fl, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	// It takes the connection and never answers: replaced, not "busy"
	// (UMBRA_ADMIN_TIMEOUT keeps the wait short).
	t.Setenv("UMBRA_ADMIN_TIMEOUT", "2s")
	check("another process's silent socket at the path, the file mid-edit", want{exitUnavailable, append(goneWords, "replaced since by the socket of pid")}, byConfig)
	fl.Close()
	os.Remove(sock)
	// The socket removed while the file is mid-edit (F3): gone, SIGHUP named.
	os.WriteFile(cfg, []byte(slips["a duplicate key"]), 0o600)
	os.Remove(sock)
	check("the socket removed, the file mid-edit", want{exitUnavailable, append(goneWords, "no file is there now")}, byConfig)
	hup() // the reload fails (the file), the socket is made again all the same
	check("the socket made again by a SIGHUP whose reload failed", want{0, []string{"warning:"}}, byConfig)
	os.WriteFile(cfg, good, 0o600)
}
