package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// impostor is an SMTP server at a dead primary's address that offers
// STARTTLS and AUTH and answers every login with authReply, advertising
// XSHADOW but no XSHADOWDB (or the one given): not the primary.
type impostor struct {
	ln     net.Listener
	mu     sync.Mutex
	logins int
}

func startImpostor(t *testing.T, addr, authReply, digest string) *impostor {
	t.Helper()
	ln := testsupport.Listen(t, addr) // the killed primary's port may be in use a moment: Listen retries
	im := &impostor{ln: ln}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{selfSignedCert(t, "impostor.umbra.test")}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go im.serve(c, tlsCfg, authReply, digest)
		}
	}()
	return im
}

func (im *impostor) serve(c net.Conn, tlsCfg *tls.Config, authReply, digest string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(c), c
	say := func(s string) { w.Write([]byte(s + "\r\n")) }
	say("220 impostor ESMTP")
	tlsOn := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			ext := "250-impostor\r\n250-XSHADOW 6\r\n"
			if digest != "" {
				ext += "250-XSHADOWDB " + digest + "\r\n"
			}
			if !tlsOn {
				ext += "250-STARTTLS\r\n"
			}
			w.Write([]byte(ext + "250 AUTH PLAIN LOGIN\r\n"))
		case cmd == "STARTTLS" && !tlsOn:
			say("220 2.0.0 go ahead")
			tc := tls.Server(c, tlsCfg)
			if tc.Handshake() != nil {
				return
			}
			c, r, w, tlsOn = tc, bufio.NewReader(tc), tc, true
		case strings.HasPrefix(cmd, "AUTH"):
			im.mu.Lock()
			im.logins++
			im.mu.Unlock()
			say(authReply)
			if strings.HasPrefix(authReply, "421") {
				return
			}
		case cmd == "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 not here")
		}
	}
}

func (im *impostor) loginCount() int {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.logins
}

// rt18 F4, F5: after a primary dies, what answers at its address is not
// the primary unless it presents the digest of the database the copies
// were made against. A server that refuses the shadow login without
// XSHADOWDB, and one closing with 421 4.3.2 (shutting down), are an
// unreachable primary: the shadow server counts failed heartbeats, shows
// state unreachable with the error and the takeover time in shadow list
// (not refused), counts failed heartbeats in the metrics (not refused
// sessions), takes the copy over at the retry count and delivers it —
// instead of keeping it refused until it expires two days later.
func TestImpostorAtDeadPrimaryAddressIsUnreachable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, reply string }{
		{"535 without the digest", "535 5.7.8 Authentication credentials invalid"},
		{"421 shutting down", "421 4.3.2 Service shutting down"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b, sinkAddr, cfgA, cfgB := receiptOrgSASL(t, true)
			// Takeover after 6 failed heartbeats (6 s): time to look at
			// the views in between.
			editConfig(t, cfgB, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 6")
			metricsB := withMetrics(t, cfgB)
			hb := startUmbra(t, cfgB, b)
			ha := startUmbra(t, cfgA, a) // the sink is down: hub-a keeps the message, hub-b its copy
			acked := sendAll(t, ha, a, "impostor", 1, 1)
			p := &shadowPair{}
			waitCond(t, "hub-b to hold the copy for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
			ha.kill()
			im := startImpostor(t, a, c.reply, "")
			type view struct {
				State       string
				Refused     string
				Unreachable string
				TakeoverAt  time.Time `json:"takeover_at"`
				Failures    int       `json:"failed_heartbeats"`
			}
			var seen view
			waitCond(t, "shadow list to show hub-a unreachable", 30e9, func() bool {
				out, _ := cli(t, cfgB, "shadow", "list", "--json")
				var vs []view
				json.Unmarshal([]byte(out), &vs)
				if len(vs) == 1 && vs[0].Failures > 0 && vs[0].State == "unreachable" {
					seen = vs[0]
					return true
				}
				return false
			})
			if seen.Refused != "" || !strings.Contains(seen.Unreachable, c.reply) || seen.TakeoverAt.IsZero() {
				t.Errorf("shadow list while something else answers at hub-a's address: %+v; want unreachable with its reply and the takeover time", seen)
			}
			if out, _ := cli(t, cfgB, "shadow", "list"); !strings.Contains(out, " unreachable ") || !strings.Contains(out, "takeover ") {
				t.Errorf("shadow list does not say unreachable and when the takeover comes:\n%s", out)
			}
			if n := metricValue(t, metricsB, `umbra_shadow_primary_state{primary="hub-a",state="unreachable"}`); n != 1 {
				t.Errorf("umbra_shadow_primary_state of hub-a unreachable: %v, want 1", n)
			}
			if n := metricValue(t, metricsB, `umbra_shadow_primary_state{primary="hub-a",state="refused"}`); n != 0 {
				t.Errorf("umbra_shadow_primary_state of hub-a refused: %v, want 0", n)
			}
			waitCond(t, "hub-b to take the copy over", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 0 })
			if im.loginCount() == 0 {
				t.Errorf("hub-b never tried to log in at the impostor")
			}
			if n := metricValue(t, metricsB, `umbra_shadow_heartbeats_total{result="failed"}`); n < 6 {
				t.Errorf("%v failed heartbeats counted, want at least 6", n)
			}
			if n := metricValue(t, metricsB, `umbra_shadow_refused_sessions_total{session="heartbeat"}`); n != 0 {
				t.Errorf("%v refused heartbeats counted for something that is not the primary", n)
			}
			log, _ := os.ReadFile(hb.log)
			if strings.Contains(string(log), "primary refused the heartbeat") {
				hb.dumpLog()
				t.Errorf("a refusal by something other than the primary logged as the primary's")
			}
			sink := startRecorder(t, sinkAddr)
			waitArrived(t, sink, acked, hb)
		})
	}
}

// rt18 F6: a shadow server that refuses the session for copies on
// receipt (hub-b refuses hub-a's login: hub-a's password is wrong) was
// logged only at DEBUG and not counted. hub-a logs it at WARN with
// hub-b's reply once a minute however many messages fail, counts each in
// umbra_shadow_refused_sessions_total{session="receipt"}, and queue
// destinations names the refusal; with reject_on_shadow_failure each
// message is refused 451, its WARN naming hub-b's reply.
func TestShadowOnReceiptRefusedPushWarns(t *testing.T) {
	a, b, _, cfgA, cfgB := receiptOrgSASL(t, true)
	wrongPassword(t, "hub-a", cfgA, cfgB)
	metricsA := withMetrics(t, cfgA)
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	if acked := sendMany(a, "pushrefused", 3, 1, nil); len(acked) != 0 {
		ha.dumpLog()
		t.Fatalf("%d of 3 acknowledged without a shadow copy (reject_on_shadow_failure)", len(acked))
	}
	if n := metricValue(t, metricsA, `umbra_shadow_refused_sessions_total{session="receipt"}`); n != 3 {
		t.Errorf("%v refused sessions for copies on receipt counted, want 3", n)
	}
	log, _ := os.ReadFile(ha.log)
	warn := `level=WARN msg="shadow server refused the session for copies on receipt" component=delivery shadow_server=hub-b`
	if n := strings.Count(string(log), warn); n != 1 || !strings.Contains(string(log), `reply="535 5.7.8 `) {
		ha.dumpLog()
		t.Errorf("%d WARNs of hub-b's refusal for 3 messages within a minute, want 1 with its reply", n)
	}
	out, _ := cli(t, cfgA, "queue", "destinations", "--json")
	var ds []struct {
		Name      string
		State     string
		LastError string `json:"last_error"`
	}
	json.Unmarshal([]byte(out), &ds)
	found := false
	for _, d := range ds {
		found = found || strings.Contains(d.Name, "hub-b") && strings.Contains(d.LastError, "shadow copy on receipt refused: 535 5.7.8")
	}
	if !found {
		t.Errorf("queue destinations does not say hub-b refuses the copies:\n%s", out)
	}
}
