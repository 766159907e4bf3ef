package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notopoHub writes the configuration of a hub without a topology: a
// loopback connector on which servers may open shadow sessions, one-second
// heartbeats (the takeover bound 3 s), and the send connector given.
func notopoHub(t *testing.T, dir, name, addr, send string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	os.MkdirAll(d, 0o700)
	path := filepath.Join(d, "umbra.yaml")
	cfg := fmt.Sprintf(`server: {name: %s, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1s], retry_jitter: 0.1, shadow_heartbeat_timeout: 1s, shadow_heartbeat_retry_count: 3}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: 0s
send_connectors:
  - %s
`, name, filepath.Join(d, "data"), addr, send)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// singleCopies is `shadow single --json` of the daemon of cfg: the
// messages it says it holds alone, by id, with the mark's time.
func singleCopies(t *testing.T, cfg string) map[string]time.Time {
	t.Helper()
	out, code := cli(t, cfg, "shadow", "single", "--json")
	var list []struct {
		ID    string    `json:"id"`
		Lost  string    `json:"lost_on"`
		Since time.Time `json:"since"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("shadow single --json: exit %d, %v\n%s", code, err, out)
	}
	m := map[string]time.Time{}
	for _, c := range list {
		m[c.ID] = c.Since
	}
	return m
}

// SR-6, SR-3 (rr notopo38): two hubs without a topology; h1 relays to h2
// through a send_xshadow connector and keeps the shadow copy, and h2,
// whose only route is dead, keeps the message. h2 has no address for h1
// (no topology: no probe), but h1 heartbeats h2 for its copy every
// second: a holder heard from holds its copy. Past h2's takeover bound
// (3 s here), h2 does not say it holds the message alone, nor, after a
// restart, that h1 was not reachable since the start. Once h1 is killed
// and stays silent for the bound, the message is held by h2 alone —
// since a time no earlier than its arrival.
func TestSR6NoTopologyHolderHeardFromHoldsItsCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a1, a2, dead := "127.0.0.128:11300", "127.0.0.128:11301", "127.0.0.128:11302"
	cfg2 := notopoHub(t, dir, "h2", a2, fmt.Sprintf(`{name: out, address_spaces: [{domain: shadow.test, cost: 1}], smart_hosts: [%q], tls: none}`, dead))
	cfg1 := notopoHub(t, dir, "h1", a1, fmt.Sprintf(`{name: toh2, address_spaces: [{domain: shadow.test, cost: 1}], smart_hosts: [%q], tls: none, send_xshadow: true}`, a2))
	h2 := startUmbra(t, cfg2, a2)
	h2.dumpLogIfFailed()
	h1 := startUmbra(t, cfg1, a1)
	h1.dumpLogIfFailed()
	if reply := rawSend(t, a1, "a@example.org", []string{"b@shadow.test"}, "Subject: one\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("send: %q", reply)
	}
	waitLogCount(t, h1, "event=shadow", 1)
	// Past h2's bound, while h1 heartbeats: held by two servers.
	time.Sleep(8 * time.Second)
	if sc := singleCopies(t, cfg2); len(sc) != 0 {
		t.Fatalf("h2 lists %v as held by it only while h1 heartbeats it for the copy", sc)
	}

	// A restart of h2: h1 is heard from again, and is no holder "not
	// reachable since the start".
	h2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h2.done:
		h2.done <- nil
	case <-time.After(60 * time.Second):
		t.Fatal("h2 did not stop after SIGTERM")
	}
	b, _ := os.ReadFile(h2.log)
	mark := len(b)
	h2 = startUmbra(t, cfg2, a2)
	if reply := rawSend(t, a1, "a@example.org", []string{"c@shadow.test"}, "Subject: two\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("send: %q", reply)
	}
	waitLogCount(t, h1, "event=shadow", 2)
	time.Sleep(8 * time.Second)
	if sc := singleCopies(t, cfg2); len(sc) != 0 {
		t.Fatalf("h2 lists %v as held by it only after its restart while h1 heartbeats it", sc)
	}
	b, _ = os.ReadFile(h2.log)
	for _, bad := range []string{"not reachable since the start", "not reachable for the takeover bound"} {
		if strings.Contains(string(b[mark:]), bad) {
			t.Fatalf("h2 logs %q of h1, which heartbeats it", bad)
		}
	}
	out, _ := cli(t, cfg2, "message", "list", "--json")
	if !strings.Contains(out, "b@shadow.test") || !strings.Contains(out, "c@shadow.test") {
		t.Fatalf("h2 does not hold both messages:\n%s", out)
	}

	// h1 dies for good: silent for the bound, its copies are taken as
	// lost, each since no earlier than the message's arrival.
	h1.kill()
	waitCond(t, "h2 to hold both messages alone", 30*time.Second, func() bool { return len(singleCopies(t, cfg2)) == 2 })
	for id, since := range singleCopies(t, cfg2) {
		show, _ := cli(t, cfg2, "message", "show", id, "--json")
		var m struct {
			Arrived time.Time `json:"arrived"`
		}
		if err := json.Unmarshal([]byte(show), &m); err != nil || m.Arrived.IsZero() {
			t.Fatalf("message show %s: %v\n%s", id, err, show)
		}
		if since.Before(m.Arrived.Truncate(time.Second)) {
			t.Fatalf("message %s held by h2 only since %s, before it arrived at %s", id, since, m.Arrived)
		}
	}
}
