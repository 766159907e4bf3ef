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

// Q-4, OPS-5: a bulk message remove --ndr by filter removes a message
// with the null sender with no DSN (none goes to <>), and says so,
// counted, in text and --json, as the form by id says it of each id
// (TestRemoveNDROfNullSenderSaysNoDSN): the filter's form said only how
// many it removed, as if each sender had been told.
func TestQ4BulkRemoveNDRCountsNullSenders(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.150"), reserveAddr(t, "127.0.0.150")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: the messages stay
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	send := func(from, to string) {
		t.Helper()
		c, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		reply := func() string {
			t.Helper()
			for {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if len(l) < 4 || l[3] != '-' {
					return l
				}
			}
		}
		reply()
		for _, step := range []struct{ send, want string }{
			{"EHLO client.test\r\n", "250"},
			{"MAIL FROM:<" + from + ">\r\n", "250"},
			{"RCPT TO:<" + to + ">\r\n", "250"},
			{"DATA\r\n", "354"},
			{"Subject: x\r\n\r\nbody\r\n.\r\n", "250"},
		} {
			c.Write([]byte(step.send))
			if got := reply(); !strings.HasPrefix(got, step.want) {
				t.Fatalf("%q: %q", step.send, got)
			}
		}
		c.Write([]byte("QUIT\r\n"))
	}
	send("", "bob@remote.test")
	send("", "bob@remote.test")
	send("alice@client.test", "bob@remote.test")
	out, code := cli(t, cfg, "message", "remove", "--ndr", "--to", "bob@remote.test")
	if code != 0 || !strings.Contains(out, "3 messages matched, 3 remove,") || !strings.Contains(out, "no DSN was sent for 2 of them") || !strings.Contains(out, "null sender") {
		t.Errorf("remove --ndr by filter: exit %d\n%s\nwant it to say no DSN was sent for the 2 with the null sender", code, out)
	}
	send("", "carol@remote.test")
	send("alice@client.test", "carol@remote.test")
	out, code = cli(t, cfg, "message", "remove", "--ndr", "--to", "carol@remote.test", "--json")
	var res struct {
		Done  []string       `json:"done"`
		NoDSN map[string]int `json:"no_dsn"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res.Done) != 2 {
		t.Fatalf("remove --ndr --to carol --json: exit %d, %v\n%s", code, err, out)
	}
	n := 0
	for why, k := range res.NoDSN {
		if strings.Contains(why, "null sender") {
			n += k
		}
	}
	if n != 1 {
		t.Errorf("remove --ndr --to carol --json: no_dsn %v, want 1 for the null sender\n%s", res.NoDSN, out)
	}
	// Several ids given are done in one batch, as a filter's: each
	// says it in its own note (the batch's commit kept them).
	send("", "dave@remote.test")
	send("", "dave@remote.test")
	out, _ = cli(t, cfg, "message", "list", "--to", "dave@remote.test", "--json")
	var ms []admin.MessageView
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 2 {
		t.Fatalf("message list: %v %s", err, out)
	}
	out, code = cli(t, cfg, "message", "remove", "--ndr", ms[0].ID, ms[1].ID)
	for _, m := range ms {
		if code != 0 || !strings.Contains(out, m.ID+": no DSN was sent: the message has the null sender") {
			t.Errorf("remove --ndr of two ids: exit %d\n%s\nwant %s to say no DSN was sent", code, out, m.ID)
		}
	}
}
