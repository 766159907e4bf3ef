package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// Interop with real Debian peers: Postfix's smtp-source sends through
// umbra into Postfix's smtp-sink, and swaks submits into a Maildir. CI
// installs them (.ci/run); elsewhere the test skips when they are absent.

func needTool(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing; .ci/run must install it", name)
	}
	t.Skipf("%s not installed (apt-get install postfix swaks)", name)
	return ""
}

// startSmtpSink runs Postfix's smtp-sink on addr, dumping every
// transaction into dir/dump.
func startSmtpSink(t testing.TB, addr string) (dump string) {
	t.Helper()
	bin := needTool(t, "smtp-sink")
	testsupport.Release(addr) // a reserved address: smtp-sink binds it
	// smtp-sink drops privileges before writing, and t.TempDir's parent
	// is private: use a directory directly under the system temp dir.
	dir, err := os.MkdirTemp("", "umbra-smtp-sink")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	dump = filepath.Join(dir, "dump")
	args := []string{"-D", dump, addr, "256"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, addr, &stderr)
	return dump
}

func waitListening(t testing.TB, addr string, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := dialTCP(addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s: %s", addr, stderr)
}

func countDump(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("X-Client-Addr: "))
}

func TestInteropPostfixSourceAndSink(t *testing.T) {
	source := needTool(t, "smtp-source")
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	dump := startSmtpSink(t, sinkAddr)
	d := startUmbra(t, relayConfig(t, dir, listen, sinkAddr), listen)

	const n = 200
	out, err := exec.Command(source, "-s", "5", "-m", "200", "-l", "4096", "-f", "sender@example.org",
		"-t", "rcpt@remote.example", listen).CombinedOutput()
	if err != nil {
		d.dumpLog()
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for countDump(dump) < n {
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("smtp-sink received %d of %d", countDump(dump), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(dump)
	// smtp-source greets with HELO: umbra's Received field says "with
	// SMTP" (RFC 3848; rt26b F2), the relay to the sink greets with EHLO.
	if !bytes.Contains(b, []byte("by hub.e2e.test (umbra) with SMTP id ")) || !bytes.Contains(b, []byte("X-Helo-Args: hub.e2e.test")) {
		t.Errorf("the sink's copy lacks umbra's trace header or EHLO name")
	}
	if got := countDump(dump); got != n {
		t.Errorf("smtp-sink received %d messages, want exactly %d", got, n)
	}
}

func TestInteropSwaks(t *testing.T) {
	swaks := needTool(t, "swaks")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	startUmbra(t, relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1")), listen)
	out, err := exec.Command(swaks, "--server", listen, "--from", "bob@example.org", "--to", "alice@example.test",
		"--header", "Subject: swaks interop", "--body", "hello from swaks").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "data", "maildir", "example.test", "alice", "new", "*"))
		if len(files) == 1 {
			b, _ := os.ReadFile(files[0])
			if !strings.Contains(string(b), "Subject: swaks interop") || !strings.Contains(string(b), "hello from swaks") {
				t.Fatalf("maildir file:\n%s", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message in the Maildir (%v)", files)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
