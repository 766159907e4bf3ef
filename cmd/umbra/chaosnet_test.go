package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// chaosNet cuts and heals links between umbra servers on loopback with
// nftables rules. Every server listens on an address of its own and binds
// its outbound connections to it (server.source_address), so a rule on
// "ip saddr A ip daddr B" in the output hook catches exactly the packets
// of the link A–B: connections either side opened, established ones
// included. Cutting both directions is one partition of one link.
//
// The rules live in a table of their own, inet umbra_chaos_PID, which the
// test creates and always deletes: on t.Cleanup, on SIGINT/SIGTERM/SIGHUP
// (the handler deletes it and re-raises the signal), and — for a test
// process that died without either (kill -9, a test timeout's panic) —
// the next soak deletes every umbra_chaos_ table whose process is gone.
type chaosNet struct {
	table    string
	mu       sync.Mutex
	cut      bool
	onSignal []func() // run before the table goes on a signal
}

// atSignal adds f to what a signal runs first (the test's processes,
// which no t.Cleanup will stop then).
func (n *chaosNet) atSignal(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onSignal = append(n.onSignal, f)
}

var chaosTableRE = regexp.MustCompile(`table inet (umbra_chaos_(\d+))`)

// newChaosNet returns nil and the reason when partitions cannot be made
// here (not root, no nft, no netfilter in this kernel or namespace).
func newChaosNet(t *testing.T) (*chaosNet, string) {
	if os.Geteuid() != 0 {
		return nil, "not root"
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, "nft not installed (Debian package nftables)"
	}
	// Tables of soaks that died without cleaning up.
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		for _, m := range chaosTableRE.FindAllStringSubmatch(string(out), -1) {
			pid, _ := strconv.Atoi(m[2])
			if pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
				exec.Command("nft", "delete", "table", "inet", m[1]).Run()
				t.Logf("chaos: deleted the stale table inet %s of a dead soak", m[1])
			}
		}
	}
	n := &chaosNet{table: fmt.Sprintf("umbra_chaos_%d", os.Getpid())}
	script := fmt.Sprintf("add table inet %s\nadd chain inet %s out { type filter hook output priority -10; policy accept; }\n", n.table, n.table)
	if err := n.nft(script); err != nil {
		return nil, "nft cannot create a table: " + err.Error()
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case sig := <-sigs:
			n.mu.Lock()
			fs := n.onSignal
			n.mu.Unlock()
			for _, f := range fs {
				f()
			}
			n.remove()
			signal.Stop(sigs)
			syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
	t.Cleanup(func() {
		close(done)
		signal.Stop(sigs)
		n.remove()
	})
	return n, ""
}

func (n *chaosNet) nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// remove deletes the table and with it every rule; idempotent.
func (n *chaosNet) remove() {
	n.mu.Lock()
	defer n.mu.Unlock()
	exec.Command("nft", "delete", "table", "inet", n.table).Run()
}

// partition cuts the link between the hosts a and b, both directions:
// drop (packets vanish: connects and sessions hang until their
// timeouts) or reject (TCP answered with a reset: connections refused,
// established ones broken at once).
func (n *chaosNet) partition(a, b string, reject bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	verdict := "drop"
	if reject {
		verdict = "meta l4proto tcp reject with tcp reset"
	}
	var sb strings.Builder
	if reject {
		// The resets the reject rules make pass through this hook too,
		// from the other side's address: let them through.
		for _, p := range [][2]string{{a, b}, {b, a}} {
			fmt.Fprintf(&sb, "add rule inet %s out ip saddr %s ip daddr %s tcp flags & rst == rst accept\n", n.table, p[0], p[1])
		}
	}
	for _, p := range [][2]string{{a, b}, {b, a}} {
		fmt.Fprintf(&sb, "add rule inet %s out ip saddr %s ip daddr %s %s\n", n.table, p[0], p[1], verdict)
		if reject {
			// Anything not TCP between the two is dropped all the same.
			fmt.Fprintf(&sb, "add rule inet %s out ip saddr %s ip daddr %s drop\n", n.table, p[0], p[1])
		}
	}
	if err := n.nft(sb.String()); err != nil {
		return err
	}
	n.cut = true
	return nil
}

// heal removes every cut.
func (n *chaosNet) heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = false
	return n.nft(fmt.Sprintf("flush chain inet %s out\n", n.table))
}

// TestChaosNetCutsOneLink checks the tool the soak relies on: a cut
// between two addresses refuses (reject) or hangs (drop) connections
// between exactly those two, both ways, and healing restores them, while
// a third address still reaches both; at the end the table is gone.
func TestChaosNetCutsOneLink(t *testing.T) {
	var table string
	t.Run("cut", func(t *testing.T) {
		n, why := newChaosNet(t)
		if n == nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("partitions unavailable in CI: %s", why)
			}
			t.Skipf("partitions unavailable (%s): run as root with nftables installed", why)
		}
		table = n.table
		chaosNetCuts(t, n)
	})
	if table == "" {
		return
	}
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v %s", err, out)
	}
	if strings.Contains(string(out), table) {
		t.Errorf("table %s left behind after the test:\n%s", table, out)
	}
}

func chaosNetCuts(t *testing.T, n *chaosNet) {
	a, b, c := "127.0.66.201", "127.0.66.202", "127.0.66.203"
	la, lb := listenOn(t, a), listenOn(t, b)
	reach := func(from, to string) error { return dialFrom(from, to) }
	for _, reject := range []bool{true, false} {
		if err := n.partition(a, b, reject); err != nil {
			t.Fatal(err)
		}
		if err := reach(a, lb); err == nil {
			t.Errorf("reject=%v: %s reached %s through the cut", reject, a, lb)
		} else if reject && !strings.Contains(err.Error(), "refused") {
			t.Errorf("reject: want connection refused, got %v", err)
		} else if !reject && !strings.Contains(err.Error(), "timeout") {
			t.Errorf("drop: want a timeout, got %v", err)
		}
		if err := reach(b, la); err == nil {
			t.Errorf("reject=%v: %s reached %s through the cut", reject, b, la)
		}
		if err := reach(c, la); err != nil {
			t.Errorf("reject=%v: a third host lost %s: %v", reject, la, err)
		}
		if err := reach(c, lb); err != nil {
			t.Errorf("reject=%v: a third host lost %s: %v", reject, lb, err)
		}
		if err := n.heal(); err != nil {
			t.Fatal(err)
		}
		if err := reach(a, lb); err != nil {
			t.Errorf("reject=%v: healed link still cut: %v", reject, err)
		}
	}
}

func listenOn(t *testing.T, ip string) string {
	t.Helper()
	ln := testsupport.Serve(t, ip+":0", func(c net.Conn) {
		c.Write([]byte("hello\n"))
		c.Close()
	})
	return ln.Addr()
}

// dialFrom connects from the address from to to and reads the greeting.
func dialFrom(from, to string) error {
	d := net.Dialer{Timeout: 500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", to)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

// The promise for a partition that outlasts the takeover delay between a
// shadow server and a live primary (README, "What survives which
// failure"): the shadow server takes its copy over and delivers it
// through the other hub; the primary, which still holds the message,
// delivers it as well once it can. The mailbox gets it once (the final
// delivery's duplicate record suppresses the second copy); the
// destination outside the organisation gets it twice — the one duplicate
// the promise allows — and never a third time.
//
//	hubA (s1) ─▶ hubB | hubC (s2) ─▶ mbx (s3) ─▶ Maildir
//	                  └──────┴─▶ sink (outside)
//
// Both s2 hubs hold their outbound queues suspended while the message
// arrives, so that the one it went to (the primary) still has it; the
// link between hubA and the primary is then dropped until hubA's
// takeover has been delivered, and the primary's queues are resumed.
func TestPartitionOutlastingTakeover(t *testing.T) {
	cut, why := newChaosNet(t)
	if cut == nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("partitions unavailable in CI: %s", why)
		}
		t.Skipf("partitions unavailable (%s): run as root with nftables installed", why)
	}
	dir := t.TempDir()
	servers := []*chaosServer{{name: "hubA", role: "hub"}, {name: "hubB", role: "hub"}, {name: "hubC", role: "hub"}, {name: "mbx1", role: "hub"}}
	by := map[string]*chaosServer{}
	for i, s := range servers {
		s.addr = freeAddr(t, fmt.Sprintf("127.0.66.%d", 31+i))
		s.cfg = filepath.Join(dir, s.name+".yaml")
		s.data = filepath.Join(dir, s.name)
		by[s.name] = s
	}
	sink := startChaosSink(t, "127.0.66.51")
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites:
  - {name: s1}
  - {name: s2, hub_site: true}
  - {name: s3}
site_links:
  - {name: s1-s2, sites: [s1, s2], cost: 10}
  - {name: s2-s3, sites: [s2, s3], cost: 10}
servers:
  - {name: hubA, role: hub, site: s1, address: %q}
  - {name: hubB, role: hub, site: s2, address: %q}
  - {name: hubC, role: hub, site: s2, address: %q}
  - {name: mbx1, role: hub, site: s3, address: %q}
send_connectors:
  - {name: to-mailboxes, address_spaces: [{domain: example.test, cost: 1}], source_servers: [mbx1]}
  - {name: to-outside, address_spaces: [{domain: external.test, cost: 1}], source_servers: [hubB, hubC], smart_hosts: [%q]}
`, servers[0].addr, servers[1].addr, servers[2].addr, servers[3].addr, sink.addr)), 0o600)
	for _, s := range servers {
		chaosConfig(t, dir, s, topo)
		d := startUmbra(t, s.cfg, s.addr)
		s.d = d
		cut.atSignal(func() { d.cmd.Process.Kill() })
	}
	queues := func(s *chaosServer) map[string]int {
		out, _ := cli(t, s.cfg, "queue", "list", "--json")
		var qs []struct {
			Name  string
			Count int `json:"message_count"`
		}
		json.Unmarshal([]byte(out), &qs)
		m := map[string]int{}
		for _, q := range qs {
			if !strings.HasPrefix(q.Name, "dumpster:") {
				m[q.Name] = q.Count
			}
		}
		return m
	}
	outbound := []string{"site:s3", "smarthost:to-outside"}
	for _, h := range []string{"hubB", "hubC"} {
		for _, q := range outbound {
			if out, code := cli(t, by[h].cfg, "queue", "suspend", q); code != 0 {
				t.Fatalf("%s: suspend %s: %s", h, q, out)
			}
		}
	}
	m := &chaosMsg{seq: 1, rcpts: []string{"bob@example.test", "dave@external.test"}, sent: time.Now()}
	acked := make(chan bool, 1)
	go func() { ok, _, _ := chaosSend(by["hubA"].addr, m); acked <- ok }()

	var primary, other *chaosServer
	waitCond(t, "a hub of s2 to hold the message, hubA its shadow copy", 30*time.Second, func() bool {
		for _, p := range []string{"hubB", "hubC"} {
			if queues(by["hubA"])["shadow:"+strings.ToLower(p)] == 1 && queues(by[p])["site:s3"] == 1 { // a primary named by its one spelling, serverKey's
				primary, other = by[p], by[map[string]string{"hubB": "hubC", "hubC": "hubB"}[p]]
				return true
			}
		}
		return false
	})
	for _, q := range outbound {
		cli(t, other.cfg, "queue", "resume", q)
	}
	ha, _, _ := net.SplitHostPort(by["hubA"].addr)
	hp, _, _ := net.SplitHostPort(primary.addr)
	if err := cut.partition(ha, hp, false); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	mail := filepath.Join(by["mbx1"].data, "maildir", "example.test")
	waitCond(t, "hubA's takeover delivered through "+other.name, 60*time.Second, func() bool {
		return len(chaosMailbox(mail)["1|bob@example.test"]) == 1 && len(sink.copies()["1|dave@external.test"]) == 1
	})
	// The primary's queues are suspended: what arrived is hubA's takeover.
	t.Logf("taken over and delivered %v after the cut", time.Since(cutAt).Round(time.Millisecond))
	for _, q := range outbound {
		cli(t, primary.cfg, "queue", "resume", q)
	}
	waitCond(t, primary.name+" to finish the message it held", 60*time.Second, func() bool {
		n := 0
		for _, c := range queues(primary) {
			n += c
		}
		return n == 0 && len(sink.copies()["1|dave@external.test"]) == 2
	})
	if err := cut.heal(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hubA to drop its copies", 60*time.Second, func() bool { return len(queues(by["hubA"])) == 0 })
	time.Sleep(2 * time.Second) // anything still on its way lands now

	if n := len(chaosMailbox(mail)["1|bob@example.test"]); n != 1 {
		t.Errorf("the mailbox has %d copies, want 1", n)
	}
	if got := sink.copies()["1|dave@external.test"]; len(got) != 2 || got[0].from == got[1].from {
		t.Errorf("the outside destination got %v, want one copy from each hub of s2", got)
	}
	b, _ := os.ReadFile(filepath.Join(by["mbx1"].data, "tracking.log"))
	if !strings.Contains(string(b), `"duplicate-suppressed"`) {
		t.Errorf("mbx1 suppressed no duplicate: the second copy never reached the mailbox server")
	}
	if !<-acked {
		t.Error("the message was not acknowledged")
	}
}
