package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// receiptOrgSASL is receiptOrg with hubs that know each other only by
// login: each hub's connector offers TLS and AUTH, grants the shadow
// verbs to server accounts only (no client certificates, not externally
// secured), and each hub has a send connector with auth: to the other
// (its smart host is the other's topology address). hub-a makes shadow
// copies on receipt, prefer-remote. Without loginBack hub-b has no send
// connector to hub-a: it cannot log in there.
func receiptOrgSASL(t *testing.T, loginBack bool) (a, b, sink, cfgA, cfgB string) {
	return receiptOrgSASLOut(t, loginBack, "hub-a, hub-b")
}

// receiptOrgSASLOut is receiptOrgSASL with the servers that may use the
// way out (the topology connector "out") named by out.
func receiptOrgSASLOut(t *testing.T, loginBack bool, out string) (a, b, sink, cfgA, cfgB string) {
	dir := t.TempDir()
	a, b, sink = freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), reserveAddr(t, "127.0.0.1") // kept until the sink starts
	topoPath := twoSiteTopology(t, dir, a, b, sink, out)

	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "hub.umbra.test"))
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	creds, pw := filepath.Join(dir, "credentials"), filepath.Join(dir, "pw")
	os.WriteFile(creds, []byte("hub-a:"+string(hash)+":server\nhub-b:"+string(hash)+":server\n"), 0o600)
	os.WriteFile(pw, []byte("pw\n"), 0o600)

	hub := func(name, addr, ack, peer, peerAddr string) string {
		extra := fmt.Sprintf(`send_connectors:
  - name: to-%s
    address_spaces: [{domain: "%s.invalid", cost: 1}]
    smart_hosts: [%q]
    tls: required
    auth: {username: %s, password_file: %q}
`, peer, peer, peerAddr, name, pw)
		if name == "hub-b" && !loginBack {
			extra = ""
		}
		path, _ := orgHub(t, dir, name, addr, topoPath, ack, extra)
		raw, _ := os.ReadFile(path)
		cfg := strings.Replace(string(raw), "    externally_secured: true\n",
			fmt.Sprintf("    tls: {cert_file: %q, key_file: %q}\n    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}\n",
				certFile, keyFile, creds), 1)
		if cfg == string(raw) {
			t.Fatal("orgHub's connector changed: cannot make it SASL-only")
		}
		os.WriteFile(path, []byte(cfg), 0o600)
		return path
	}
	cfgA = hub("hub-a", a, shadowOnReceipt("prefer-remote", true), "hub-b", b)
	cfgB = hub("hub-b", b, "0s", "hub-a", a)
	return
}

// SR-17 between hubs that log in to each other (no client certificates):
// hub-b watches hub-a, the primary of the copies hub-a pushed to it, by
// logging in through its send connector to hub-a — as hub-a's pushes log
// in to hub-b. With both up, every message is delivered exactly once,
// hub-b's copies go with hub-a's discards, and nothing is taken over,
// also for messages sent after several heartbeat timeouts (1 s, 3
// retries).
func TestShadowOnReceiptSASLOnlyHubs(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, cfgB := receiptOrgSASL(t, true)
	sink := startRecorder(t, sinkAddr)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	var acked []string
	for round := 0; round < 2; round++ {
		reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, fmt.Sprintf("Subject: sasl-first-%d\r\n\r\nhello", round))
		if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
			ha.dumpLog()
			t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
		}
		acked = append(acked, fmt.Sprintf("sasl-first-%d", round))
		acked = append(acked, sendMany(a, fmt.Sprintf("sasl%d-", round), 4, 2, nil)...)
		waitArrived(t, sink, acked, ha)
		waitCond(t, "hub-b to drop its copies", 30e9, func() bool { return len(p.queued(t, cfgB)) == 0 })
		if round == 0 {
			time.Sleep(5 * time.Second) // several heartbeat timeouts: a takeover would have come
		}
	}
	time.Sleep(2 * time.Second) // a second copy delivered by hub-b would arrive meanwhile
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
	if out, _ := cli(t, cfgB, "track", "--json", "--sender", "a@example.org"); strings.Contains(out, `"event": "takeover"`) {
		hb.dumpLog()
		t.Errorf("hub-b took copies over while hub-a was up")
	}
	if log, _ := os.ReadFile(hb.log); strings.Contains(string(log), "primary refused") {
		hb.dumpLog()
		t.Errorf("hub-a refused hub-b's sessions: they did not log in")
	}
}

// A primary that refuses the shadow sessions of its peer (hub-b has no
// way to log in to hub-a) is alive: hub-b keeps the copies hub-a pushed
// — no takeover however many heartbeats it refuses, nothing delivered
// twice — and names the refusal at WARN with hub-a's reply.
func TestShadowOnReceiptRefusingPrimaryKeepsCopies(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, cfgB := receiptOrgSASL(t, false)
	refusedPrimaryKeepsCopies(t, a, b, sinkAddr, cfgA, cfgB, "refused", "550 5.7.1", "no WARN naming hub-a's refusal with its reply")
}

// wrongPassword makes the hub name (configuration cfg) of the
// organisation of receiptOrgSASL log in to its peer (peerCfg) with a
// wrong password, and the peer's auth throttle short: a 535 slower than
// the heartbeat's bound would be a timed-out heartbeat (config check
// warns of it).
func wrongPassword(t *testing.T, name, cfg, peerCfg string) {
	t.Helper()
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("wrong\n"), 0o600)
	raw, _ := os.ReadFile(cfg)
	pw := regexp.MustCompile(`password_file: "[^"]*"`)
	if !pw.Match(raw) {
		t.Fatal(name + " logs in with no password file")
	}
	os.WriteFile(cfg, pw.ReplaceAll(raw, []byte(fmt.Sprintf("password_file: %q", wrong))), 0o600)
	appendConfig(t, peerCfg, "auth_throttle: {delay: 10ms, max_delay: 20ms, lockout_after: 100000, lockout: 1m}\n")
}

// refusedPrimaryKeepsCopies runs the organisation of receiptOrgSASL,
// whose hub-a refuses hub-b's sessions with reply (its code and
// enhanced status code), and sends 3 messages (subjects prefix-N) at
// hub-a: hub-b keeps their copies — no takeover however many heartbeats
// hub-a refuses, nothing delivered twice —, names the refusal at WARN
// with the reply (else the test fails saying noWarn), and tells it in
// every view (checkRefusedViews).
func refusedPrimaryKeepsCopies(t *testing.T, a, b, sinkAddr, cfgA, cfgB, prefix, reply, noWarn string) {
	t.Helper()
	sink := startRecorder(t, sinkAddr)
	metricsB := withMetrics(t, cfgB)
	// hub-a hands its discards to a holder silent for two of its own
	// heartbeat timeouts (silentholders.go): at 300 s it does not within
	// the test, so hub-b keeps the copies only hub-a's refusals reach.
	slowHeartbeats(t, cfgA)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	acked := sendAll(t, ha, a, prefix, 3, 1)
	waitArrived(t, sink, acked, ha)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 3 })
	time.Sleep(5 * time.Second) // five heartbeat timeouts (1 s, 3 retries): a takeover would have come
	if s, pending := p.held(t, cfgB, "hub-a"); s != 3 || pending != 0 {
		hb.dumpLog()
		t.Fatalf("hub-b holds %d copies for hub-a, %d taken over; want 3 kept", s, pending)
	}
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
	log, _ := os.ReadFile(hb.log)
	if !strings.Contains(string(log), `level=WARN msg="primary refused the heartbeat; its copies are kept, not taken over" component=shadow primary=hub-a`) ||
		!strings.Contains(string(log), `reply="`+reply+` `) {
		hb.dumpLog()
		t.Error(noWarn)
	}
	checkRefusedViews(t, cfgB, metricsB, "hub-a", reply+" ", 3)
}

// checkRefusedViews checks that every operator view of a shadow server
// tells one story of a primary that refuses its sessions (rt14 F7: shadow
// list said healthy with 0 failed heartbeats, queue destinations 5
// failures in a row — above the retry count, for a primary never taken
// over for them — and the watch session active while every one was
// refused): shadow list says refused, with the reply; the heartbeats'
// destination shows the refusal as its last error and no failure in a
// row; the watch session is not held open; the metrics count refused
// sessions, not failed heartbeats.
func checkRefusedViews(t *testing.T, cfg, metricsAddr, primary, reply string, held int) {
	t.Helper()
	out, _ := cli(t, cfg, "shadow", "list", "--json")
	var vs []struct {
		Primary  string
		State    string
		Refused  string
		Failures int       `json:"failed_heartbeats"`
		Held     int       `json:"held_copies"`
		Taken    int       `json:"taken_over_copies"`
		Since    time.Time `json:"refused_since"`
	}
	json.Unmarshal([]byte(out), &vs)
	if len(vs) != 1 || vs[0].Primary != primary || vs[0].State != "refused" || !strings.HasPrefix(vs[0].Refused, reply) ||
		vs[0].Failures != 0 || vs[0].Held != held || vs[0].Taken != 0 || vs[0].Since.IsZero() {
		t.Errorf("shadow list of a refusing primary: %+v\n%s", vs, out)
	}
	if out, _ := cli(t, cfg, "shadow", "list"); !strings.Contains(out, " refused ") || !strings.Contains(out, reply) {
		t.Errorf("shadow list does not name the refusal:\n%s", out)
	}
	type dest struct {
		Name      string
		State     string
		Failures  int    `json:"failures_in_a_row"`
		LastError string `json:"last_error"`
	}
	dests := func() map[string]dest {
		out, _ := cli(t, cfg, "queue", "destinations", "--json")
		var ds []dest
		json.Unmarshal([]byte(out), &ds)
		m := map[string]dest{}
		for _, d := range ds {
			m[d.Name] = d
		}
		return m
	}
	d := dests()["shadow:"+primary]
	if d.Failures != 0 || !strings.Contains(d.LastError, "refused by the primary: "+reply) {
		t.Errorf("queue destinations, heartbeats of %s: %+v; want no failure in a row and the refusal as the last error", primary, d)
	}
	// A refused watch session ends: sampled a few times, it is not
	// always running (it ran without pause, reconnecting once a second).
	idle := false
	for i := 0; i < 10 && !idle; i++ {
		idle = dests()["shadow-watch:"+primary].State != "active"
		time.Sleep(100 * time.Millisecond)
	}
	if !idle {
		t.Errorf("the watch session to a refusing primary stays active")
	}
	if n := metricValue(t, metricsAddr, `umbra_shadow_refused_sessions_total{session="heartbeat"}`); n < 1 {
		t.Errorf("%v refused heartbeats counted, want some", n)
	}
	if n := metricValue(t, metricsAddr, `umbra_shadow_heartbeats_total{result="failed"}`); n != 0 {
		t.Errorf("%v failed heartbeats counted for a primary that only refused", n)
	}
	if n := metricValue(t, metricsAddr, `umbra_shadow_primary_state{primary="`+primary+`",state="refused"}`); n != 1 {
		t.Errorf("umbra_shadow_primary_state of %s refused: %v, want 1", primary, n)
	}
	// The copies kept for it are shadow list's COPIES and TAKEN OVER.
	if n := metricValue(t, metricsAddr, `umbra_shadow_queue_messages{primary="`+primary+`"}`); n != float64(held) {
		t.Errorf("umbra_shadow_queue_messages of %s: %v, want shadow list's %d copies", primary, n, held)
	}
	if n := metricValue(t, metricsAddr, `umbra_shadow_taken_over_messages{primary="`+primary+`"}`); n != 0 {
		t.Errorf("umbra_shadow_taken_over_messages of %s: %v, want 0 (none taken over)", primary, n)
	}
}

// A relay between hubs that know each other only by login logs in
// through the send connector to the other hub, like its shadow sessions:
// hub-b's mail for outside goes through hub-a (only hub-a may use the way
// out), with a shadow session hub-a accepts (hub-b keeps the copy until
// hub-a's discard) and the organisation id kept. Before, the relay did
// not log in: hub-a refused the shadow session and took hub-b for a
// client.
func TestRelayBetweenSASLOnlyHubsLogsIn(t *testing.T) {
	a, b, sinkAddr, cfgA, cfgB := receiptOrgSASLOut(t, true, "hub-a")
	sink := startRecorder(t, sinkAddr)
	ha := startUmbra(t, cfgA, a)
	hb := startUmbra(t, cfgB, b)
	acked := sendAll(t, hb, b, "via-a", 3, 1)
	waitArrived(t, sink, acked, hb)
	if log, _ := os.ReadFile(hb.log); strings.Contains(string(log), "relaying without it") {
		hb.dumpLog()
		t.Fatal("hub-b relayed to hub-a without a shadow session: the relay did not log in")
	}
	out, _ := cli(t, cfgA, "track", "--json", "--sender", "a@example.org")
	if !strings.Contains(out, `"event": "receive"`) {
		ha.dumpLog()
		t.Fatalf("hub-a tracked no receive:\n%s", out)
	}
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// A primary that refuses its peer's login (535 5.7.8: a password changed
// on one side only) is a refusing primary too: no takeover, nothing
// delivered twice, and every view says refused with the primary's whole
// reply, its enhanced status code included (rt15: the log dropped the
// 5.7.8). hub-a's auth throttle is short here: a 535 slower than the
// heartbeat's bound is a timed-out heartbeat (config check warns of it).
func TestShadowOnReceiptLoginRefusedPrimary(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, cfgB := receiptOrgSASL(t, true)
	wrongPassword(t, "hub-b", cfgB, cfgA)
	refusedPrimaryKeepsCopies(t, a, b, sinkAddr, cfgA, cfgB, "loginrefused", "535 5.7.8", "no WARN naming hub-a's refused login with its whole reply (535 5.7.8)")
}

// rt15 N1: a primary back with a wiped database that refuses its peer's
// login is recognised at once: the EHLO before the login carries the
// digest of its database id (XSHADOWDB), which differs from the one the
// copies were made against, so the shadow server takes them over at its
// next refused heartbeat — not only at the primary's next push, or at
// their expiry — and the message whose only copy it held is delivered.
func TestRefusingPrimaryWithNewDatabaseRecognised(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, cfgB := receiptOrgSASL(t, true)
	wrongPassword(t, "hub-b", cfgB, cfgA)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a) // the sink is down: hub-a keeps the message, hub-b its copy
	acked := sendAll(t, ha, a, "wiped", 1, 1)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
	waitCond(t, "a refused heartbeat", 30e9, func() bool {
		log, _ := os.ReadFile(hb.log)
		return strings.Contains(string(log), `msg="primary refused the heartbeat; its copies are kept, not taken over" component=shadow primary=hub-a`)
	})
	ha.kill()
	os.RemoveAll(filepath.Join(filepath.Dir(cfgA), "data")) // the disk is lost
	startUmbra(t, cfgA, a)                                  // a new database, and no new mail
	waitCond(t, "hub-b to take the copy over", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 0 })
	// The takeover's line is written after its commit, which the list
	// above may already show.
	deadline := time.Now().Add(10 * time.Second)
	for {
		log, _ := os.ReadFile(hb.log)
		if strings.Contains(string(log), `msg="took over shadow copies" component=shadow primary=hub-a messages=1`) &&
			strings.Contains(string(log), "database digest changed") {
			break
		}
		if time.Now().After(deadline) {
			hb.dumpLog()
			t.Fatalf("no WARN of a takeover for hub-a's new database")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, hb)
}
