package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	table string
	mu    sync.Mutex
	cut   bool
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
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	return ln.Addr().String()
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
