package main

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// silentPeer is a next hop that accepts connections and never answers (no
// greeting): every delivery to it waits on it, and its window stays
// full. It holds the connections until the test ends.
type silentPeer struct{ *testsupport.Server }

func startSilentPeer(t *testing.T, addr string) silentPeer {
	t.Helper()
	return silentPeer{testsupport.Silent(t, addr)}
}

// waitConns waits until the daemon d (this run of it) has made n
// connections: a connection of an earlier run, killed since, does not
// count, so a test that kills d once it waits here kills it while this
// run waits on the peer — never early, at its start.
func (tp silentPeer) waitConns(t *testing.T, n int, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := tp.CountSince(d.started)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("the next hop got %d of %d connections from this run of umbra", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// F1: 15 messages for a tarpitting next hop whose window is 2: two
// deliveries wait on it, thirteen are claimed but queued behind the
// window and never run any of umbra's code. Two kill -9s of the daemon
// (a restart between, and a third start to count the second) move none
// of them to the poison queue, and no message's crash count grows.
func TestKill9TwiceBehindTarpitWindowCountsNoCrash(t *testing.T) {
	dir := t.TempDir()
	listen, pitAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	pit := startSilentPeer(t, pitAddr)
	cfg := relayConfig(t, dir, listen, pitAddr)
	editConfig(t, cfg, "    tls: none\n", "    tls: none\n    max_connections: 2\n")
	editConfig(t, cfg, "transport:\n", "transport:\n  connect_timeout: 5m\n  poison_threshold: 2\n")
	const n = 15
	d := startUmbra(t, cfg, listen)
	for i := range n {
		if ok, err := send(listen, "tarpit-"+string(rune('a'+i))); !ok {
			t.Fatalf("message %d not acknowledged: %v", i, err)
		}
	}
	for run := 1; run <= 3; run++ {
		pit.waitConns(t, 2, d) // the window is full: the other 13 wait behind it
		time.Sleep(200 * time.Millisecond)
		d.kill()
		if run < 3 {
			d = startUmbra(t, cfg, listen)
		}
	}
	// The third start's recovery counted the second kill; the third kill
	// came after it and is counted by no one here.
	wantNoCrashCounted(t, filepath.Join(dir, "data"), n, false)
}

// wantNoCrashCounted checks the transport database of the stopped
// daemon whose data directory is dataDir: it holds want messages (its
// own: with ownOnly, shadow copies and messages without recipients left
// out), none in the poison queue and none with a crash counted against
// it.
func wantNoCrashCounted(t *testing.T, dataDir string, want int, ownOnly bool) {
	t.Helper()
	st, err := queue.Open(filepath.Join(dataDir, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	st.View(func(tx *queue.Tx) error {
		tx.ForEach(func(m *queue.Message, err error) bool {
			if err != nil {
				t.Fatal(err)
			}
			if ownOnly && (m.State == queue.Shadow || len(m.Rcpts) == 0) {
				return true
			}
			n++
			if m.State == queue.Poison || m.CrashCount != 0 {
				t.Errorf("message %s: state %s, crash count %d (%s)", m.ID, m.State, m.CrashCount, m.LastError)
			}
			return true
		})
		return nil
	})
	if n != want {
		t.Fatalf("%d messages in the database, want %d", n, want)
	}
}

// blackholeDNS is a resolver that takes every query and never answers
// (a dead or overloaded DNS server); each query is signalled.
func blackholeDNS(t *testing.T) (addr string, queried chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	queried = make(chan struct{}, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case queried <- struct{}{}:
			default:
			}
		}
	}()
	return pc.LocalAddr().String(), queried
}

// rt11 F1: a delivery that only waits on the resolver (its MX lookup,
// with the DNS server dead) runs none of umbra's code on the message:
// two kill -9s then count no crash against it.
func TestKill9WhileResolvingCountsNoCrash(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	dnsAddr, queried := blackholeDNS(t)
	cfg := relayConfig(t, dir, listen, "unused.invalid:25")
	editConfig(t, cfg, "    smart_hosts: [\"unused.invalid:25\"]\n", "")
	editConfig(t, cfg, "transport:\n", "transport:\n  poison_threshold: 2\n")
	appendConfig(t, cfg, fmt.Sprintf("dns:\n  servers: [%q]\n  timeout: 30s\n  attempts: 2\n  hosts_file: none\n", dnsAddr))
	d := startUmbra(t, cfg, listen)
	if ok, err := send(listen, "resolving"); !ok {
		t.Fatalf("not acknowledged: %v", err)
	}
	for run := 1; run <= 3; run++ {
		select {
		case <-queried: // the delivery waits on the resolver
		case <-time.After(30 * time.Second):
			d.dumpLog()
			t.Fatalf("run %d: no DNS query", run)
		}
		time.Sleep(200 * time.Millisecond)
		d.kill()
		for len(queried) > 0 {
			<-queried
		}
		if run < 3 {
			d = startUmbra(t, cfg, listen)
		}
	}
	wantNoCrashCounted(t, filepath.Join(dir, "data"), 1, false)
}
