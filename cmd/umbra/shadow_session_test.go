package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// editConfig replaces old by new in a configuration file, once.
func editConfig(t testing.TB, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s: %q not found (%v)", path, old, err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// withMetrics makes a daemon serve /metrics and returns the address.
func withMetrics(t testing.TB, cfg string) string {
	t.Helper()
	addr := freeAddr(t, "127.0.0.1")
	editConfig(t, cfg, `metrics_listen: ""`, "metrics_listen: "+addr)
	return addr
}

// metricValue reads one series (name with labels, as printed) from a
// daemon's /metrics; a series not printed yet is 0. A scrape that fails
// (any status but 200: a collector that broke it) fails the test.
func metricValue(t testing.TB, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape of %s: %s\n%s", addr, resp.Status, body)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", series, v)
			}
			return f
		}
	}
	return 0
}

// slowHeartbeats sets a shadow server's heartbeat timeout to the default
// 300 s, so that in a test nothing but the sessions themselves can bring
// discard notifications.
func slowHeartbeats(t testing.TB, cfg string) {
	editConfig(t, cfg, "shadow_heartbeat_timeout: 1s", "shadow_heartbeat_timeout: 300s")
}

// SR-3 (Exchange: "the shadow server queries the discard status at the
// end of every session with the primary"): hub-a relays three messages
// 0.3 s apart over one reused connection to hub-b; once hub-b delivered
// them, every shadow copy at hub-a goes by a discard query of that
// session — not at the next heartbeat, 300 s later, and not over a
// session per message. The watch session (rt39 F1), which would bring
// the discards sooner on its long poll, is held off: the proxy between
// the hubs closes every connection at its first long poll, so only the
// relay session's own query can bring them (watch40 item 4).
func TestShadowQueryAtSessionEnd(t *testing.T) {
	t.Parallel()
	const ip = "127.0.0.124"
	dir := t.TempDir()
	a, b := addrInRange(t, ip, 8900, 25), addrInRange(t, ip, 8925, 25)
	proxyAddr, sinkAddr := addrInRange(t, ip, 8950, 25), addrInRange(t, ip, 8975, 25)
	proxy := startWatchProxyCutting(t, proxyAddr, b, true)
	topoPath := twoSiteTopology(t, dir, a, proxyAddr, sinkAddr, "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	translated(t, cfgB) // hub-a reaches it through the proxy
	slowHeartbeats(t, cfgA)
	// hub-b, the primary, hands its discards by XDISCARD to a holder
	// silent for two of its own heartbeat timeouts (silentholders.go):
	// at 300 s it does not within the test, so only the relay session's
	// query can bring them.
	slowHeartbeats(t, cfgB)
	p := &shadowPair{}
	sink := startRecorder(t, sinkAddr)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	var acked []string
	var lastAck time.Time
	for i := 0; i < 3; i++ {
		subj := fmt.Sprintf("session-end-%d", i)
		if r := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nhello"); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("%s: reply %q", subj, r)
		}
		acked, lastAck = append(acked, subj), time.Now()
		time.Sleep(300 * time.Millisecond)
	}
	waitArrived(t, sink, acked, hb)
	waitCond(t, "hub-a's shadow copies to be discarded by the relay session's query", 45*time.Second, func() bool {
		s, _ := p.held(t, cfgA, "hub-b")
		return s == 0
	})
	t.Logf("copies gone %v after the last message was acknowledged (a figure, not a check)", time.Since(lastAck).Round(100*time.Millisecond))
	relays, _, polled := proxy.counts()
	proxy.mu.Lock()
	queried, cut := proxy.relayQueried, proxy.cut
	proxy.mu.Unlock()
	if polled != 0 {
		t.Fatalf("%d long polls got through the proxy; the watch sessions were to be held off", polled)
	}
	if queried == 0 {
		t.Fatal("the copies went without a discard query of the relay session answered with notifications")
	}
	if relays != 1 {
		t.Errorf("%d relay sessions for three messages, want the one reused", relays)
	}
	t.Logf("watch sessions held off: %d (a figure, not a check)", cut)
}

// SR-9 with SR-15 (issue: polling storm): while a sender waits for
// delayed acknowledgement and the primary cannot deliver, the shadow
// server must not open a session per query. hub-b's session counter
// shows every connection hub-a made: the relay session and one watch
// session, on which the confirmation comes once hub-b can deliver.
func TestDelayedAckPushNotPoll(t *testing.T) {
	t.Parallel()
	p := newShadowPairAck(t, "3s")
	slowHeartbeats(t, p.cfgA)
	metricsB := withMetrics(t, p.cfgB)
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	// The test's probe that each daemon is up is a session of hub-b's
	// too (every connection greeted counts): the count starts after it.
	before := metricValue(t, metricsB, `umbra_smtp_sessions_total{connector="org"}`)
	sessions := func() float64 { return metricValue(t, metricsB, `umbra_smtp_sessions_total{connector="org"}`) - before }

	// The sink is down: no confirmation within the 3 s.
	if r := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: waits\r\n\r\nwait"); strings.Contains(r, "confirmed") || !strings.HasPrefix(r, "250 ") {
		t.Fatalf("unconfirmed path: %q", r)
	}
	if n := sessions(); n > 2 {
		a.dumpLog()
		t.Fatalf("hub-a opened %v sessions to hub-b during a 3 s wait; want the relay session and one watch session", n)
	}
	// hub-b can deliver now: the discard reaches hub-a on the open session.
	sink := startRecorder(t, p.sink)
	waitArrived(t, sink, []string{"waits"}, b)
	waitCond(t, "hub-a's shadow copy to be discarded", 45*time.Second, func() bool { return len(p.queued(t, p.cfgA)) == 0 })
	if r := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: quick\r\n\r\nconfirm me"); !strings.HasSuffix(r, ", confirmed by the next hop") {
		t.Fatalf("confirmed path: %q", r)
	}
	if n := sessions(); n > 3 {
		a.dumpLog()
		t.Fatalf("hub-b saw %v sessions; want at most the relay sessions and one watch session", n)
	}
	if log, _ := os.ReadFile(b.log); strings.Contains(string(log), `"shadow session"`) || strings.Contains(string(log), "msg=\"shadow session\"") {
		t.Errorf("hub-b logs shadow sessions above DEBUG")
	}
}
