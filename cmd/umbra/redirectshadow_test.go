package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Relays that leave a hub for another server of the organisation by a
// way other than the topology's route (an operator's queue redirect, a
// send connector whose smart host is a hub) go in a shadow session when
// the next hop offers XSHADOW, as every relay inside does (SR-2): the
// sending hub keeps a shadow copy until the next hop's discard, so the
// next hop's disk may die with the message on it.

// redirectHubs is one site of two hubs, hub-a and hub-b, on
// 127.0.0.167; each keeps example.test in its own maildir, its
// mailbox:local suspended so the mail stays queued.
type redirectHubs struct {
	dir, a, b         string // listen addresses
	cfgA, cfgB, dataA string
	topoPath          string
}

func newRedirectHubs(t *testing.T, topoExtra, extraA, extraB string) *redirectHubs {
	t.Helper()
	h := &redirectHubs{dir: t.TempDir(), a: addrInRange(t, "127.0.0.167", 9500, 250), b: addrInRange(t, "127.0.0.167", 9750, 250)}
	topo := fmt.Sprintf(`sites: [{name: s1}]
servers:
  - {name: hub-a, role: hub, site: s1, address: %q, source_addresses: [127.0.0.1, 127.0.0.167]}
  - {name: hub-b, role: hub, site: s1, address: %q, source_addresses: [127.0.0.1, 127.0.0.167]}
%s`, h.a, h.b, strings.ReplaceAll(topoExtra, "HUB_A", h.a))
	h.topoPath = filepath.Join(h.dir, "topology.yaml")
	if err := os.WriteFile(h.topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cfgA, h.dataA = orgHub(t, h.dir, "hub-a", h.a, h.topoPath, "0s", extraA+mailboxExample)
	h.cfgB, _ = orgHub(t, h.dir, "hub-b", h.b, h.topoPath, "0s", extraB+mailboxExample)
	return h
}

// mailboxExample is the part of both hubs' configuration that keeps
// example.test in the hub's own maildir.
const mailboxExample = "mailbox: {maildir: maildir}\n"

// exampleAccepted accepts example.test (any local part) on a hub.
const exampleAccepted = "accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]\n"

// delivered counts the files in bob's new mail at both hubs.
func (h *redirectHubs) delivered() int {
	n := 0
	for _, hub := range []string{"hub-a", "hub-b"} {
		files, _ := filepath.Glob(filepath.Join(h.dir, hub, "data", "maildir", "*", "bob", "new", "*"))
		n += len(files)
	}
	return n
}

// waiting is the number of messages queued in q.
func waiting(q map[string]int) int {
	n := 0
	for _, c := range q {
		n += c
	}
	return n
}

// soleMessage is the id of the one message cfg's server lists, "" when
// it lists none or more.
func soleMessage(t *testing.T, cfg string) string {
	out, code := cli(t, cfg, "message", "list", "--json")
	var ms []struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		return ""
	}
	return ms[0].ID
}

// relayedKeepsCopy checks, once hub-a holds the message hub-b relayed,
// that hub-b keeps a shadow copy of it for hub-a and hub-a names it
// (copy: on hub-b); then hub-a loses its disk (kill -9, data dir gone,
// started again) and the message is delivered all the same, once.
func (h *redirectHubs) relayedKeepsCopy(t *testing.T, a, b *daemon) {
	t.Helper()
	h.keepsCopyThen(t, a, b, true)
}

// keepsCopyThen is relayedKeepsCopy; back false leaves hub-a dead for
// good after the kill (hub-b takes the copy over after its failed
// heartbeats).
func (h *redirectHubs) keepsCopyThen(t *testing.T, a, b *daemon, back bool) {
	t.Helper()
	p := &shadowPair{}
	var id string
	settleBy := time.Now().Add(40 * time.Second)
	waitCond(t, "hub-a to hold the relayed message", 45*time.Second, func() bool { id = soleMessage(t, h.cfgA); return id != "" })
	// hub-b either keeps the copy or (the defect) forgot the message.
	var q map[string]int
	waitCond(t, "hub-b to settle", 45*time.Second, func() bool {
		q = p.queued(t, h.cfgB)
		for name, n := range q {
			if n == 0 {
				delete(q, name) // a suspended queue listed empty
			}
		}
		if len(q) == 0 || q["shadow:hub-a"] == 1 && len(q) == 1 {
			return true
		}
		if time.Now().After(settleBy) {
			out, _ := cli(t, h.cfgB, "message", "list")
			t.Fatalf("hub-b did not settle: queues %v\n%s", q, out)
		}
		return false
	})
	if q["shadow:hub-a"] != 1 {
		out, _ := cli(t, h.cfgB, "track", "--json", "--sender", "s@src.test")
		b.dumpLog()
		t.Fatalf("hub-b keeps no shadow copy of the message it relayed to hub-a (queues %v); its track:\n%s", q, out)
	}
	if out, _ := cli(t, h.cfgA, "message", "show", id); !strings.Contains(out, "copy:       on hub-b") {
		t.Fatalf("hub-a does not name hub-b as the holder of the copy:\n%s", out)
	}
	a.kill()
	if err := os.RemoveAll(h.dataA); err != nil {
		t.Fatal(err)
	}
	if back {
		a2 := startUmbra(t, h.cfgA, h.a)
		defer a2.kill()
	}
	if out, code := cli(t, h.cfgB, "queue", "resume", "mailbox:local"); code != 0 {
		t.Fatalf("resume at hub-b: %d %s", code, out)
	}
	deliveredBy := time.Now().Add(60 * time.Second)
	waitCond(t, "the message to be delivered after hub-a lost its disk", 65*time.Second, func() bool {
		if time.Now().After(deliveredBy) {
			out, _ := cli(t, h.cfgB, "message", "list")
			b.dumpLog()
			t.Fatalf("not delivered after hub-a lost its disk; hub-b's messages:\n%s", out)
		}
		return h.delivered() >= 1
	})
	waitCond(t, "both hubs to be done", 60*time.Second, func() bool {
		return (!back || waiting(p.queued(t, h.cfgA)) == 0) && waiting(p.queued(t, h.cfgB)) == 0
	})
	if n := h.delivered(); n != 1 {
		t.Fatalf("delivered %d times, want once", n)
	}
}

// submit suspends mailbox:local on both hubs and submits one message
// to rcpt at hub-b.
func (h *redirectHubs) submit(t *testing.T, rcpt string) {
	t.Helper()
	for _, cfg := range []string{h.cfgA, h.cfgB} {
		if out, code := cli(t, cfg, "queue", "suspend", "mailbox:local"); code != 0 {
			t.Fatalf("suspend: %d %s", code, out)
		}
	}
	if r := rawSend(t, h.b, "s@src.test", []string{rcpt}, "Subject: relayed\r\nX-Test-Id: r1\r\n\r\nbody"); !strings.HasPrefix(r, "250") {
		t.Fatalf("hub-b's reply: %s", r)
	}
}

// redirectHeld submits one message to bob@example.test at hub-b, waits
// until hub-b holds it and redirects it to target.
func (h *redirectHubs) redirectHeld(t *testing.T, target string) {
	t.Helper()
	h.submit(t, "bob@example.test")
	waitCond(t, "hub-b to hold the message", 30*time.Second, func() bool { return soleMessage(t, h.cfgB) != "" })
	out, code := cli(t, h.cfgB, "queue", "redirect", "mailbox:local", "--to", target)
	if code != 0 || !strings.Contains(out, "1 message redirected") {
		t.Fatalf("redirect: %d %s", code, out)
	}
}

// SR-2: an operator's queue redirect of a hub's mail to another hub of
// the topology, named by its address, relays in a shadow session: hub-b
// keeps its copy until hub-a is done, and hub-a losing its disk loses
// no mail.
func TestSR2RedirectToHubAddressKeepsShadowCopy(t *testing.T) {
	h := newRedirectHubs(t, "", exampleAccepted, exampleAccepted)
	a := startUmbra(t, h.cfgA, h.a)
	b := startUmbra(t, h.cfgB, h.b)
	defer b.kill()
	h.redirectHeld(t, h.a)
	h.relayedKeepsCopy(t, a, b)
}

// SR-2: the same for a redirect to a host name that resolves to another
// hub's address (hub-b's hosts file), not the topology's name of it.
func TestSR2RedirectToHubByHostNameKeepsShadowCopy(t *testing.T) {
	h := newRedirectHubs(t, "", exampleAccepted, exampleAccepted)
	hosts := filepath.Join(h.dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.167 standby.example.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	appendConfig(t, h.cfgB, fmt.Sprintf("dns: {hosts_file: %q}\n", hosts))
	a := startUmbra(t, h.cfgA, h.a)
	b := startUmbra(t, h.cfgB, h.b)
	defer b.kill()
	_, port, _ := strings.Cut(h.a, ":")
	h.redirectHeld(t, "standby.example.test:"+port)
	h.relayedKeepsCopy(t, a, b)
}

// SR-2: a send connector of the topology whose smart host is another
// hub relays there in a shadow session, as the topology's own routes
// between hubs do (config check warns of such a smart host, yet it is
// the organisation's: relayLeavesOrganisation).
func TestSR2SmartHostThatIsAHubKeepsShadowCopy(t *testing.T) {
	h := newRedirectHubs(t, `send_connectors:
  - {name: to-a, address_spaces: [{domain: other.test, cost: 1}], source_servers: [hub-b], smart_hosts: ["HUB_A"]}
`, "accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}, {domain: other.test, type: authoritative, recipient_validation: off}]\n", exampleAccepted)
	a := startUmbra(t, h.cfgA, h.a)
	b := startUmbra(t, h.cfgB, h.b)
	defer b.kill()
	h.submit(t, "bob@other.test")
	h.relayedKeepsCopy(t, a, b)
}

// SR-6: the redirect's target dies for good with the message on its
// disk: hub-b takes its copy over and delivers it by its own route (the
// redirect ended with the hand-over), not to the dead target again.
func TestSR6RedirectTargetGoneForGoodCopyDeliveredByOwnRoute(t *testing.T) {
	h := newRedirectHubs(t, "", exampleAccepted, exampleAccepted)
	a := startUmbra(t, h.cfgA, h.a)
	b := startUmbra(t, h.cfgB, h.b)
	defer b.kill()
	h.redirectHeld(t, h.a)
	h.keepsCopyThen(t, a, b, false)
}
