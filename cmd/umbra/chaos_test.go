package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The chaos soak: five umbra servers in three sites on loopback, a
// bounded load generator, and a loop that kill -9s a random server at
// random moments and restarts it with the same database, with a wiped
// one, or never. At the end everything drains and the report counts what
// was acknowledged, delivered, lost and duplicated, and how long delivery
// took.
//
//	generator ─▶ edge1 ─▶ hub1 ─▶ hub2 | hub3 ─▶ mbx1 ─▶ Maildir
//	             site s1           site s2 (a hub site)   site s3
//
// mbx1 is the mailbox server: authoritative for example.test, it
// delivers into its Maildir. Every hop is a shadow session, and the
// generator's messages get their 250 only once the next hops confirmed
// them (delayed acknowledgement), so one server dying for good at a time
// loses nothing.
//
// make test runs a short soak with a fixed seed; make chaos runs it for
// UMBRA_CHAOS_DURATION (5m) with a new seed, which the report prints
// (UMBRA_CHAOS_SEED repeats one).

type chaosServer struct {
	name, role, addr, cfg, data string
	d                           *daemon
	up                          bool
	never                       bool
}

type chaosMsg struct {
	seq       int
	rcpts     []string
	sent      time.Time
	acked     bool
	confirmed bool
}

func chaosConfig(t *testing.T, dir string, s *chaosServer, topo string) {
	typ, mailbox := "internal_relay", ""
	if s.name == "mbx1" {
		typ, mailbox = "authoritative", "mailbox: {maildir: maildir, database: MBX1-DB}\n"
	}
	cfg := fmt.Sprintf(`server: {name: %s, role: %s, data_dir: %s, metrics_listen: "", log_level: warn}
topology: %s
transport: {retry_schedule: [1s], retry_jitter: 0.2, shadow_heartbeat_timeout: 1s, shadow_heartbeat_retry_count: 3}
accepted_domains: [{domain: example.test, type: %s, recipient_validation: off}]
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: 30s
    limits: {max_connections_per_source: 500}
%s%s`, s.name, s.role, s.data, topo, typ, s.addr, chaosReceipt(), mailbox)
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestChaos(t *testing.T) {
	dur := 40 * time.Second
	if v := os.Getenv("UMBRA_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("UMBRA_CHAOS_DURATION: %v", err)
		}
		dur = d
	}
	seed := uint64(1)
	if v := os.Getenv("UMBRA_CHAOS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	} else if os.Getenv("UMBRA_CHAOS_DURATION") != "" {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dir := t.TempDir()

	servers := []*chaosServer{{name: "edge1", role: "edge"}, {name: "hub1", role: "hub"}, {name: "hub2", role: "hub"},
		{name: "hub3", role: "hub"}, {name: "mbx1", role: "hub"}}
	byName := map[string]*chaosServer{}
	for i, s := range servers {
		s.addr = freeAddr(t, fmt.Sprintf("127.0.0.%d", i+1))
		s.cfg = filepath.Join(dir, s.name+".yaml")
		s.data = filepath.Join(dir, s.name)
		byName[s.name] = s
	}
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites:
  - {name: s1}
  - {name: s2, hub_site: true}
  - {name: s3}
site_links:
  - {name: s1-s2, sites: [s1, s2], cost: 10}
  - {name: s2-s3, sites: [s2, s3], cost: 10}
servers:
  - {name: edge1, role: edge, site: s1, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub1, role: hub, site: s1, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub2, role: hub, site: s2, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub3, role: hub, site: s2, address: %q, source_addresses: [127.0.0.1]}
  - {name: mbx1, role: hub, site: s3, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: to-mailboxes, address_spaces: [{domain: example.test, cost: 1}], source_servers: [mbx1]}
`, servers[0].addr, servers[1].addr, servers[2].addr, servers[3].addr, servers[4].addr)), 0o600)
	for _, s := range servers {
		chaosConfig(t, dir, s, topo)
	}
	var smu sync.Mutex // guards up, never and d
	start := func(s *chaosServer) {
		d := startUmbra(t, s.cfg, s.addr)
		smu.Lock()
		s.d, s.up = d, true
		smu.Unlock()
	}
	for _, s := range servers {
		start(s)
	}
	defer func() {
		if t.Failed() {
			for _, s := range servers {
				if s.d != nil {
					b, _ := os.ReadFile(s.d.log)
					lines := strings.Split(string(b), "\n")
					t.Logf("%s log (last 40 lines):\n%s", s.name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
				}
			}
		}
	}()

	// The generator: four senders, one message each per ~100 ms, to the
	// edge, or to hub1 while the edge is down. A message counts as
	// acknowledged only with its 250.
	var mu sync.Mutex
	var msgs []*chaosMsg
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	nextSeq := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				mu.Lock()
				nextSeq++
				m := &chaosMsg{seq: nextSeq, rcpts: []string{"bob@example.test"}, sent: time.Now()}
				if m.seq%3 == 0 {
					m.rcpts = append(m.rcpts, "carol@example.test")
				}
				msgs = append(msgs, m)
				mu.Unlock()
				for _, target := range []string{"edge1", "hub1"} {
					ok, confirmed, tried := chaosSend(byName[target].addr, m)
					if ok {
						mu.Lock()
						m.acked, m.confirmed = true, confirmed
						mu.Unlock()
					}
					if tried {
						break // the server answered: no second copy elsewhere
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}

	// The chaos loop.
	type event struct {
		at     time.Duration
		server string
		action string
		down   time.Duration
	}
	var events []event
	began := time.Now()
	lastWipe := time.Time{}
	neverUsed := false
	for {
		gap := time.Duration(2000+rng.IntN(4000)) * time.Millisecond
		if time.Now().Add(gap).After(stop) {
			break
		}
		time.Sleep(gap)
		var cands []*chaosServer
		smu.Lock()
		for _, s := range servers {
			if s.up && !s.never {
				cands = append(cands, s)
			}
		}
		smu.Unlock()
		victim := cands[rng.IntN(len(cands))]
		action := "same database"
		switch r := rng.IntN(10); {
		case len(events) == 2 && !neverUsed:
			// Every soak loses one server for good early on: one of the
			// two hubs of the hub site, so the path stays open.
			victim, action = byName[[]string{"hub2", "hub3"}[rng.IntN(2)]], "never"
		case (r < 3 || len(events) == 1) && time.Since(lastWipe) > 15*time.Second:
			action = "wiped database"
		case r == 3 && !neverUsed && (victim.name == "hub2" || victim.name == "hub3"):
			action = "never"
		}
		down := time.Duration(500+rng.IntN(4000)) * time.Millisecond
		smu.Lock()
		victim.up = false
		victim.never = action == "never"
		smu.Unlock()
		victim.d.kill()
		events = append(events, event{time.Since(began).Round(time.Millisecond), victim.name, action, down})
		t.Logf("chaos %6.1fs: kill -9 %s, restart: %s (down %v)", time.Since(began).Seconds(), victim.name, action, down.Round(time.Millisecond))
		if action == "never" {
			neverUsed = true
			continue
		}
		time.Sleep(down)
		if action == "wiped database" {
			lastWipe = time.Now()
			os.Remove(filepath.Join(victim.data, "queue.db"))
		}
		start(victim)
	}
	wg.Wait()

	// Drain: every acknowledged recipient must reach the mailbox.
	mu.Lock()
	defer mu.Unlock()
	want := map[string]*chaosMsg{}
	sent, acked, confirmed := len(msgs), 0, 0
	for _, m := range msgs {
		if m.acked {
			acked++
			if m.confirmed {
				confirmed++
			}
			for _, r := range m.rcpts {
				want[fmt.Sprintf("%d|%s", m.seq, r)] = m
			}
		}
	}
	maildir := filepath.Join(byName["mbx1"].data, "maildir", "example.test")
	var got map[string][]time.Time
	drainStart := time.Now()
	for deadline := time.Now().Add(150 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		got = chaosMailbox(maildir)
		missing := 0
		for k := range want {
			if len(got[k]) == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	drained := time.Since(drainStart)
	time.Sleep(2 * time.Second) // anything still on its way lands now
	got = chaosMailbox(maildir)

	lost, dups, unacked := 0, 0, 0
	var lat []time.Duration
	for k, m := range want {
		switch n := len(got[k]); {
		case n == 0:
			lost++
			t.Errorf("lost: message %s, acknowledged", k)
		default:
			dups += n - 1
			lat = append(lat, got[k][0].Sub(m.sent))
		}
	}
	for k, ts := range got {
		if want[k] == nil {
			unacked++ // delivered though its sender saw no 250 (a server died mid-reply)
			dups += len(ts) - 1
		}
	}
	suppressed := 0
	for _, s := range servers {
		b, _ := os.ReadFile(filepath.Join(s.data, "tracking.log"))
		suppressed += strings.Count(string(b), `"duplicate-suppressed"`)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Millisecond)
	}
	kinds := map[string]int{}
	for _, e := range events {
		kinds[e.action]++
	}
	report := fmt.Sprintf(`chaos report (seed %d, %v of load, 5 servers in 3 sites)
  kills:        %d (restarted with the same database %d, with a wiped database %d, never %d)
  sent:         %d messages; acknowledged %d (%d confirmed by the next hops before the 250)
  recipients:   %d acknowledged, %d delivered, LOST %d, DUPLICATES AT THE MAILBOX %d
  also:         %d recipients delivered whose sender saw no 250; %d duplicates suppressed at final delivery
  drain:        %v after the load stopped
  latency send→mailbox: p50 %v  p90 %v  p99 %v  max %v
`, seed, dur, len(events), kinds["same database"], kinds["wiped database"], kinds["never"],
		sent, acked, confirmed, len(want), len(want)-lost, lost, dups, unacked, suppressed,
		drained.Round(100*time.Millisecond), pct(0.5), pct(0.9), pct(0.99), pct(1))
	t.Log("\n" + report)
	if p := os.Getenv("UMBRA_CHAOS_REPORT"); p != "" {
		os.WriteFile(p, []byte(report), 0o644)
	}
	if dups > 0 {
		t.Errorf("%d duplicates at the mailbox", dups)
	}
	if acked == 0 {
		t.Error("nothing was acknowledged")
	}
}

// chaosSend submits one message. ok: 250 after DATA; tried: the server
// took the connection (a failure after that must not be retried
// elsewhere, the message may be on its way).
func chaosSend(addr string, m *chaosMsg) (ok, confirmed, tried bool) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false, false, false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return ""
			}
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	if !strings.HasPrefix(reply(), "220") {
		return false, false, false
	}
	cmds := []string{"EHLO gen.test", "MAIL FROM:<gen@example.org>"}
	for _, rc := range m.rcpts {
		cmds = append(cmds, "RCPT TO:<"+rc+">")
	}
	cmds = append(cmds, "DATA")
	for _, cmd := range cmds {
		fmt.Fprintf(c, "%s\r\n", cmd)
		l := reply()
		if !strings.HasPrefix(l, "2") && !strings.HasPrefix(l, "3") {
			return false, false, cmd != cmds[0]
		}
	}
	fmt.Fprintf(c, "Message-ID: <chaos-%d@gen.test>\r\nSubject: chaos %d\r\n\r\nchaos soak message %d\r\n.\r\n", m.seq, m.seq, m.seq)
	l := reply()
	fmt.Fprintf(c, "QUIT\r\n")
	return strings.HasPrefix(l, "250"), strings.Contains(l, "confirmed"), true
}

// chaosMailbox maps "seq|rcpt" to the modification time of each copy in
// the Maildir.
func chaosMailbox(root string) map[string][]time.Time {
	out := map[string][]time.Time{}
	users, _ := os.ReadDir(root)
	for _, u := range users {
		rcpt := u.Name() + "@example.test"
		for _, sub := range []string{"new", "cur"} {
			dir := filepath.Join(root, u.Name(), sub)
			files, _ := os.ReadDir(dir)
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(dir, f.Name()))
				if err != nil {
					continue
				}
				i := strings.Index(string(b), "Subject: chaos ")
				if i < 0 {
					continue
				}
				rest := string(b[i+len("Subject: chaos "):])
				seq := rest[:strings.IndexAny(rest+"\r", "\r\n")]
				info, err := f.Info()
				if err != nil {
					continue
				}
				k := seq + "|" + rcpt
				out[k] = append(out[k], info.ModTime())
			}
		}
	}
	return out
}
