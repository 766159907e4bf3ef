package main

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// Q-4 (rt32c): message remove --ndr of a message with the null sender
// removes it and sends no DSN (none goes to <>), and says so: the CLI
// said only "remove" and the audit line "message remove --ndr", as if
// the sender had been told.
func TestRemoveNDROfNullSenderSaysNoDSN(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: the message stays
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	reply := func() string {
		t.Helper()
		var last string
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			last = l
			if len(l) < 4 || l[3] != '-' {
				return last
			}
		}
	}
	reply()
	for _, step := range []struct{ send, want string }{
		{"EHLO client.test\r\n", "250"},
		{"MAIL FROM:<>\r\n", "250"},
		{"RCPT TO:<bob@remote.test>\r\n", "250"},
		{"DATA\r\n", "354"},
		{"From: <mailer-daemon@client.test>\r\nSubject: a bounce\r\n\r\nbody\r\n.\r\n", "250"},
	} {
		c.Write([]byte(step.send))
		if got := reply(); !strings.HasPrefix(got, step.want) {
			t.Fatalf("%q: %q", step.send, got)
		}
	}
	c.Write([]byte("QUIT\r\n"))
	out, _ := cli(t, cfg, "message", "list", "--json")
	var ms []admin.MessageView
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 1 {
		t.Fatalf("message list: %v %s", err, out)
	}
	out, code := cli(t, cfg, "message", "remove", "--ndr", ms[0].ID)
	if code != 0 || !strings.Contains(out, "no DSN was sent") || !strings.Contains(out, "null sender") {
		t.Errorf("remove --ndr of a null-sender message: exit %d\n%s\nwant it to say no DSN was sent (null sender)", code, out)
	}
	found := false
	for _, l := range logLinesWith(d, "message remove --ndr") {
		found = found || strings.Contains(l, "no DSN") && strings.Contains(l, "null sender")
	}
	if !found {
		t.Error("the audit line does not say that no DSN was sent (null sender)")
	}
}
