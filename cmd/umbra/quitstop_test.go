package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// quitStopAddr is an address for this file's daemons and peers.
func quitStopAddr(t *testing.T) string {
	return testsupport.AddrInRange(t, "127.0.0.132", 9000, 1000)
}

// SR-17, OPS (stop), with a real daemon: hub-a copies on receipt to
// hub-b, a transport server that takes the copy and never answers a
// QUIT (a server hung at the end of a session). The session of the copy
// stays idle in hub-a's pool; a SIGTERM ends it with a bounded QUIT, so
// umbra stops long before its command_timeout (10 minutes here) — the
// stop waited that long for every idle session, one after the other.
// hub-b sees the connection closed.
func TestStopDoesNotWaitForAnUnansweredQuit(t *testing.T) {
	dir := t.TempDir()
	a, sink := quitStopAddr(t), quitStopAddr(t) // nothing listens at the sink: the message waits
	hub := testsupport.StartHub(t, quitStopAddr(t), testsupport.HubScript{DataReply: "250 2.0.0 kept", HangAtQuit: true})
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.132]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.132]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, a, hub.Addr(), sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", true), "")
	editConfig(t, cfgA, "shadow_heartbeat_retry_count: 3}", "shadow_heartbeat_retry_count: 3, connect_timeout: 2s, command_timeout: 10m}")
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: quit\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q; want the copy on hub-b", reply)
	}
	if hub.Copies.Load() != 1 {
		t.Fatalf("hub-b holds %d copies, want 1", hub.Copies.Load())
	}
	sessions := int32(hub.Count()) // the copy's, and any probe of hub-b's
	ha.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-ha.done:
		ha.done <- err // kill (the cleanup) reads it
		if err != nil {
			t.Errorf("umbra exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("umbra still stopping 60 s after SIGTERM: it waits for a QUIT hub-b never answers")
	}
	if hub.Quits.Load() == 0 {
		t.Error("the idle session of the copy was closed with no QUIT")
	}
	deadline := time.Now().Add(10 * time.Second)
	for hub.Ended.Load() < sessions {
		if time.Now().After(deadline) {
			t.Fatalf("%d of hub-b's %d sessions closed after the stop", hub.Ended.Load(), sessions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
