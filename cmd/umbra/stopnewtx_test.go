package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM drains: the transactions in progress finish, and no other
// begins (README, Running under systemd). A client inside a body at the
// signal gets its 250 for that message; the MAIL it sends next on the
// same connection is refused with 421 4.3.2 and the connection closed,
// as an idle session's is, so a client that would leave that second
// transaction open and silent cannot hold the stop until its idle
// timeout (20 s here): umbra exits within seconds (OPS-1).
func TestStopRefusesTransactionBegunDuringDrain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.121"), reserveAddr(t, "127.0.0.121")
	startRecorder(t, sinkAddr)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(b), "limits: {max_connections_per_source: 200}", "limits: {max_connections_per_source: 200, idle_timeout: 20s}", 1)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	dl := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.121")}}
	c, err := dl.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	for _, step := range []struct{ say, want string }{{"", "220 "}, {"EHLO stop.test\r\n", "250 "},
		{"MAIL FROM:<a@example.org>\r\n", "250 "}, {"RCPT TO:<b@remote.example>\r\n", "250 "}, {"DATA\r\n", "354 "}} {
		io.WriteString(c, step.say)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: %q %v, want %s", step.say, line, err, step.want)
			}
			if strings.HasPrefix(line, step.want) {
				break
			}
			if len(line) < 4 || line[3] != '-' {
				t.Fatalf("%q: %q, want %s", step.say, line, step.want)
			}
		}
	}
	io.WriteString(c, "Subject: in progress\r\n\r\nline1\r\n")
	time.Sleep(200 * time.Millisecond) // the first part is read
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitLogCount(t, d, "draining:", 1)
	c.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(c, "line2\r\n.\r\n")
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "250 2.0.0") {
		t.Fatalf("the end of the body in progress at the signal: %q %v, want 250 2.0.0", line, err)
	}
	io.WriteString(c, "MAIL FROM:<a@example.org>\r\n")
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "421 4.3.2") {
		t.Fatalf("MAIL after the signal: %q %v, want 421 4.3.2", line, err)
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Fatalf("after the 421: %q %v, want the end of the stream", rest, err)
	}
	// The client stays connected and silent; umbra does not wait for it.
	select {
	case <-d.done:
		d.done <- nil
	case <-time.After(15 * time.Second):
		t.Fatalf("umbra had not stopped 15 s after SIGTERM: it waits for a transaction begun during the drain")
	}
	t.Logf("stopped %.1f s after SIGTERM", time.Since(start).Seconds())
}
