package delivery

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// refusingHosts listens on 127.0.0.<first>… at one port; host i answers
// as script[i] says: "greeting" greets with reply, "ehlo" greets 220 and
// answers EHLO and HELO with reply, "" listens on nothing (refused).
func refusingHosts(t *testing.T, first int, script []string, reply string) string {
	t.Helper()
	port := ""
	for i, how := range script {
		if how == "" {
			continue
		}
		addr := fmt.Sprintf("127.0.0.%d:%s", first+i, port)
		if port == "" {
			addr = fmt.Sprintf("127.0.0.%d:0", first+i)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		port = portOf(ln.Addr().String())
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					if how == "greeting421" {
						c.Write([]byte("421 4.3.2 too busy\r\n"))
						return
					}
					if how == "greeting" {
						c.Write([]byte(reply + "\r\n"))
						bufio.NewReader(c).ReadString('\n') // QUIT, if any
						return
					}
					c.Write([]byte("220 mx ESMTP\r\n"))
					r := bufio.NewReader(c)
					for k := 0; k < 4; k++ {
						line, err := r.ReadString('\n')
						if err != nil || strings.HasPrefix(strings.ToUpper(line), "QUIT") {
							return
						}
						c.Write([]byte(reply + "\r\n"))
					}
				}()
			}
		}()
	}
	return port
}

// A host that refuses the session at its greeting or at EHLO with a 5xx
// answered (RFC 5321 §3.1, §4.3.2): its reply is the recipient's, as a
// refusal at MAIL or RCPT is, and the DSN quotes it with the host as
// Remote-MTA (queue dsnReporter) — never "connection broken". One rule
// for every host of the destination, the last one too: the next host is
// tried; when every host tried refused for good the message bounces;
// when one failed for now (not reachable) it is deferred.
func TestOpeningRefusalIsTheHostsReply(t *testing.T) {
	const refusal = "554 5.7.1 no SMTP service here"
	for _, tc := range []struct {
		name    string
		first   int
		script  []string
		outcome queue.Outcome
		reply   string // prefix
		hop     string // prefix
		inside  bool   // a send_xshadow connector: its hosts are the organisation's
	}{
		{"one host greets 554", 140, []string{"greeting"}, queue.FailedPerm, refusal, "m0.refuse.example[127.0.0.140]:", false},
		{"every host greets 554", 141, []string{"greeting", "greeting"}, queue.FailedPerm, refusal, "m1.refuse.example[127.0.0.142]:", false},
		{"EHLO refused", 143, []string{"ehlo"}, queue.FailedPerm, refusal, "m0.refuse.example[127.0.0.143]:", false},
		{"first unreachable, the last greets 554", 144, []string{"", "greeting"}, queue.Deferred, "451 4.4.1 connect to m0.refuse.example", "m0.refuse.example[127.0.0.144]:", false},
		{"first greets 554, the last unreachable", 146, []string{"greeting", ""}, queue.Deferred, "451 4.4.1 connect to m1.refuse.example", "m1.refuse.example[127.0.0.147]:", false},
		{"greets 421", 149, []string{"greeting421"}, queue.Deferred, "451 4.4.2 greeting from m0.refuse.example[127.0.0.149]:", "m0.refuse.example[127.0.0.149]:", false},
		{"a server of the organisation greets 554", 148, []string{"greeting"}, queue.Deferred, "451 4.4.2 greeting from m0.refuse.example[127.0.0.148]:", "m0.refuse.example[127.0.0.148]:", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := refusingHosts(t, tc.first, tc.script, refusal)
			if port == "" {
				t.Fatal("no host listens")
			}
			sc := mxConnector(port)
			sc.SendXShadow = tc.inside
			d := newDeliverer(t, manyMX("refuse.example", tc.first, len(tc.script)), config.Mailbox{}, sc)
			m := message("a@refuse.example", "b@refuse.example")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 2 {
				t.Fatalf("results %+v", res)
			}
			for _, r := range res {
				if r.Outcome != tc.outcome || !strings.HasPrefix(r.Reply, tc.reply) || !strings.HasPrefix(r.NextHop, tc.hop) {
					t.Errorf("%s: outcome %v reply %q hop %q; want %v %q… at %q…", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply, r.NextHop, tc.outcome, tc.reply, tc.hop)
				}
			}
			// What the queue's DSN makes of the result (a delay notice
			// for a deferral): a host that answered is quoted as itself.
			if tc.inside || strings.HasPrefix(tc.reply, "451 4.4.1 connect") {
				return
			}
			kind, rc := queue.NotifyFailure, res[0]
			if rc.Outcome == queue.Deferred {
				kind = queue.NotifyDelay
			}
			dm := &queue.Message{ID: 7, From: "sender@example.org", Rcpts: []queue.Recipient{{Addr: "a@refuse.example",
				Queue: "mx:refuse.example", NextHop: rc.NextHop, LastReply: rc.Reply, Status: queue.Failed}}}
			dsn := string(queue.BuildDSN("mx.test", dm, body, kind, []int{0}, time.Now(), time.Now().Add(time.Hour), 8, 0))
			host, _, _ := strings.Cut(rc.NextHop, "[")
			if !strings.Contains(dsn, "Remote-MTA: dns; "+host+"\r\n") || !strings.Contains(dsn, "Diagnostic-Code: smtp; ") ||
				strings.Contains(dsn, "connection with the next hop broken") {
				t.Errorf("the DSN does not quote %s's reply:\n%s", host, dsn)
			}
		})
	}
}
