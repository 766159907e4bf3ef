package delivery

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// dsnOf is the delay notice the queue makes of a deferral (as the
// recipient's last reply, in its queue).
func dsnOf(rc queue.Result, rcpt, queueName string) string {
	dm := &queue.Message{ID: 7, From: "sender@example.org", Rcpts: []queue.Recipient{{Addr: rcpt,
		Queue: queueName, NextHop: rc.NextHop, LastReply: rc.Reply, Status: queue.Failed}}}
	return string(queue.BuildDSN("mx.test", dm, body, queue.NotifyDelay, []int{0}, time.Now(), time.Now().Add(time.Hour), 8, 0))
}

// TLS-1: a host that answers STARTTLS with a refusal (454, 5xx) when
// TLS is required — the connector's tls: required or verify, a
// REQUIRETLS message — reported the status in its own words: the
// deferral names the step and the host (message show), and the DSN
// quotes the host's reply (Diagnostic-Code smtp, its status) with the
// host as Remote-MTA, as a refusal at the greeting or EHLO, not umbra's
// own 451 4.7.5. A handshake that fails has no reply to quote: umbra's.
func TestSTARTTLSRefusalQuotedAsTheHostsReply(t *testing.T) {
	ca := newTestCA(t)
	const refusal = "454 4.7.0 TLS not available due to temporary reason"
	for _, tc := range []struct {
		name       string
		starttls   string
		tlsSetting string
		requireTLS bool
		quoted     bool
		status     string // the delay notice's: the host's where of its class
	}{
		{"tls required, 454", refusal, config.TLSRequired, false, true, "4.7.0"},
		{"tls verify, 554", "554 5.7.3 no TLS for you", config.TLSVerify, false, true, "4.7.5"},
		{"REQUIRETLS, 454", refusal, config.TLSVerify, true, true, "4.7.0"},
		{"tls required, handshake reset", "", config.TLSRequired, false, false, "4.7.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.151:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			startRawMX(t, addr, tc.starttls)
			dns := &fakeDNS{mx: map[string][]*net.MX{"tlsq.example": {{Host: "mx.tlsq.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.tlsq.example": {"127.0.0.151"}}}
			sc := mxConnector(portOf(addr))
			sc.TLS = tc.tlsSetting
			d := newDeliverer(t, dns, config.Mailbox{}, sc)
			d.st.Load().cfg.TLSConfig = &tls.Config{RootCAs: ca.pool}
			m := message("a@tlsq.example")
			m.RequireTLS, m.OrgID = tc.requireTLS, orgid.New()
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.7.5 ") ||
				!strings.Contains(res[0].Reply, "mx.tlsq.example[127.0.0.151]") {
				t.Fatalf("%+v, want deferred 451 4.7.5 naming the host", res)
			}
			if tc.quoted && !strings.Contains(res[0].Reply, tc.starttls) {
				t.Errorf("message show's reply %q does not hold the host's %q", res[0].Reply, tc.starttls)
			}
			dsn := dsnOf(res[0], "a@tlsq.example", "mx:tlsq.example")
			quoted := strings.Contains(dsn, "Remote-MTA: dns; mx.tlsq.example\r\n") && strings.Contains(dsn, "Diagnostic-Code: smtp; "+tc.starttls)
			if quoted != tc.quoted {
				t.Errorf("the DSN quotes the host: %v, want %v:\n%s", quoted, tc.quoted, dsn)
			}
			if !strings.Contains(dsn, "Status: "+tc.status+"\r\n") {
				t.Errorf("the DSN's status is not %s:\n%s", tc.status, dsn)
			}
		})
	}
}

// Relays inside the organisation: a hub that refuses the session at its
// greeting, or STARTTLS for a REQUIRETLS message, is reported in the DSN
// as its own reply (Diagnostic-Code smtp, its code and status) — never
// named as Remote-MTA, a server of the organisation (queue dsnReporter).
func TestHubRefusalQuotedAsItsReply(t *testing.T) {
	for _, tc := range []struct {
		name       string
		how        string // startRawMX's STARTTLS answer, or "greeting421"
		requireTLS bool
		reply      string
	}{
		{"greeting 421", "greeting421", false, "421 4.3.2 too busy"},
		{"STARTTLS 454 to a REQUIRETLS message", "454 4.7.0 TLS not available", true, "454 4.7.0 TLS not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addr string
			if tc.how == "greeting421" {
				addr = "127.0.0.152:" + refusingHosts(t, 152, []string{"greeting421"}, "")
			} else {
				ln, err := net.Listen("tcp", "127.0.0.153:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = ln.Addr().String()
				ln.Close()
				startRawMX(t, addr, tc.how)
			}
			d := hubAToHubB(t, addr, nil)
			m := message("r@remote.example")
			m.RequireTLS, m.OrgID = tc.requireTLS, orgid.New()
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.Contains(res[0].Reply, tc.reply) {
				t.Fatalf("%+v, want deferred with the hub's %q", res, tc.reply)
			}
			if res[0].Queue != "site:b" {
				t.Fatalf("queue %q, want site:b", res[0].Queue)
			}
			dsn := dsnOf(res[0], "r@remote.example", res[0].Queue)
			// To a sender outside, a server of the organisation's reply
			// is described by its own code and status, not quoted whole
			// (queue shownReply).
			code := strings.Join(strings.Fields(tc.reply)[:2], " ")
			if !strings.Contains(dsn, "Diagnostic-Code: smtp; "+code+" ") || strings.Contains(dsn, "Remote-MTA:") {
				t.Errorf("the DSN does not quote hub-b's reply as its own, unnamed:\n%s", dsn)
			}
		})
	}
}
