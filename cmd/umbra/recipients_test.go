package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// rcptHub is a hub authoritative for example.test whose recipients file
// lists alice; it answers at once (no delayed acknowledgement).
func rcptHub(t *testing.T, dir, listen string) (cfg, rcptFile, maildir string) {
	t.Helper()
	rcptFile = filepath.Join(dir, "recipients")
	if err := os.WriteFile(rcptFile, []byte("# hub mailboxes\nalice@example.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.rcpt.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1s]}
accepted_domains: [{domain: example.test, type: authoritative}]
%smailbox: {maildir: maildir}
recipients: {file: %s}
`, filepath.Join(dir, "hub-data"), submitConnector("in", listen, "max_acknowledgement_delay: 0s"), rcptFile)), 0o600)
	return cfg, rcptFile, filepath.Join(dir, "hub-data", "maildir", "example.test")
}

// rcptEdge is an edge for which example.test is an internal relay
// domain sent to the hub; validation is its default (callout) unless
// validation says otherwise.
func rcptEdge(t *testing.T, dir, listen, hub, validation, ackDelay string) string {
	t.Helper()
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: edge.rcpt.test, role: edge, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1s]}
accepted_domains: [{domain: example.test, type: internal_relay%s}]
receive_connectors:
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: %s
send_connectors:
  - {name: to-hub, address_spaces: [{domain: example.test, cost: 1}], smart_hosts: [%q], tls: none}
recipients:
  callout: {positive_ttl: 7d, negative_ttl: 3h, timeout: 5s}
`, filepath.Join(dir, "edge-data"), validation, listen, ackDelay, hub)), 0o600)
	return cfg
}

// rcptReplies opens one session and returns the reply to RCPT for each
// address.
// Eight recipients a session: refusals count towards the session's error
// limits (soft_error_limit 10, max_errors 20), which are not the subject.
func rcptReplies(t *testing.T, addr string, rcpts ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(rcpts) > 0 {
		n := min(8, len(rcpts))
		c := rawDial(t, addr)
		c.cmd("EHLO client.example", "250")
		c.cmd("MAIL FROM:<someone@example.org>", "250")
		for _, r := range rcpts[:n] {
			l := c.cmd("RCPT TO:<"+r+">", "")
			out[r] = l[len(l)-1]
		}
		c.cmd("QUIT", "221")
		rcpts = rcpts[n:]
	}
	return out
}

func wantReplies(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	for a, w := range want {
		if !strings.HasPrefix(got[a], w) {
			t.Errorf("%s: RCPT TO:<%s> got %q, want %s", what, a, got[a], w)
		}
	}
}

// SMTP-6, issue 14 defect 6: the hub refuses unknown local parts at RCPT
// (no Maildir appears for them) and rereads its recipients file on
// SIGHUP, keeping the old list when the new file is broken; the edge
// validates its internal relay domain by a callout to the hub, and when
// the hub is down (even after the edge restarted) its cached answers
// still decide while an address never asked gets 451 4.3.0.
func TestRecipientValidationHubFileAndEdgeCallout(t *testing.T) {
	dir := t.TempDir()
	hubAddr, edgeAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	hubCfg, rcptFile, maildir := rcptHub(t, dir, hubAddr)
	hub := startUmbra(t, hubCfg, hubAddr)

	var random []string
	for i := range 20 {
		random = append(random, fmt.Sprintf("rnd%02dx@example.test", i))
	}
	got := rcptReplies(t, hubAddr, append(random, "alice@example.test", "postmaster@example.test")...)
	want := map[string]string{"alice@example.test": "250", "postmaster@example.test": "250"}
	for _, r := range random {
		want[r] = "550 5.1.1"
	}
	wantReplies(t, "hub", got, want)
	if r := rawSend(t, hubAddr, "s@example.org", []string{"alice@example.test"}, "Subject: hi\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("hub DATA: %s", r)
	}
	waitCond(t, "alice's delivery", 20*time.Second, func() bool {
		es, _ := os.ReadDir(filepath.Join(maildir, "alice", "new"))
		return len(es) == 1
	})
	if es, _ := os.ReadDir(maildir); len(es) != 1 {
		t.Fatalf("maildir has %d mailboxes, want alice's only", len(es))
	}

	// SIGHUP rereads the file; a broken file leaves the running list.
	os.WriteFile(rcptFile, []byte("alice@example.test\nbob@example.test\n"), 0o600)
	hub.hup()
	waitCond(t, "bob to be known after SIGHUP", 10*time.Second, func() bool {
		return strings.HasPrefix(rcptReplies(t, hubAddr, "bob@example.test")["bob@example.test"], "250")
	})
	os.WriteFile(rcptFile, []byte("alice@example.test\nnot an address\n"), 0o600)
	hub.hup()
	waitCond(t, "the failed reload in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(hub.log)
		return strings.Contains(string(b), "reload failed") && strings.Contains(string(b), "recipients:2")
	})
	wantReplies(t, "hub after a broken file", rcptReplies(t, hubAddr, "alice@example.test", "bob@example.test", "carol@example.test"),
		map[string]string{"alice@example.test": "250", "bob@example.test": "250", "carol@example.test": "550 5.1.1"})

	// The edge asks the hub.
	edgeCfg := rcptEdge(t, dir, edgeAddr, hubAddr, "", "0s")
	edge := startUmbra(t, edgeCfg, edgeAddr)
	wantReplies(t, "edge, hub up", rcptReplies(t, edgeAddr, "alice@example.test", "mallory@example.test", "postmaster@example.test"),
		map[string]string{"alice@example.test": "250", "mallory@example.test": "550 5.1.1", "postmaster@example.test": "250"})

	// The hub goes down: cached answers decide, a new address cannot be.
	hub.kill()
	downWant := map[string]string{"alice@example.test": "250", "mallory@example.test": "550 5.1.1", "new@example.test": "451 4.3.0"}
	wantReplies(t, "edge, hub down", rcptReplies(t, edgeAddr, "alice@example.test", "mallory@example.test", "new@example.test"), downWant)
	// … also after the edge restarted: the answers are in its database.
	edge.kill()
	edge = startUmbra(t, edgeCfg, edgeAddr)
	wantReplies(t, "restarted edge, hub down", rcptReplies(t, edgeAddr, "alice@example.test", "mallory@example.test", "new@example.test"), downWant)
	if r := rawSend(t, edgeAddr, "s@example.org", []string{"alice@example.test"}, "Subject: queued\r\n\r\nwhile the hub is down"); !strings.HasPrefix(r, "250") {
		t.Fatalf("edge DATA for a cached recipient: %s", r)
	}
	if t.Failed() {
		edge.dumpLog()
	}
}

// SMTP-7: a sender still waiting for delayed acknowledgement whose every
// recipient the next hop refuses gets that refusal, and no DSN is made;
// with one recipient accepted it gets its 250 and a DSN for the other.
// (The edge here validates nothing, as an edge with a stale cache would
// accept an address the hub no longer has.)
func TestWaitingSenderGetsNextHopRefusal(t *testing.T) {
	dir := t.TempDir()
	hubAddr, edgeAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	hubCfg, _, _ := rcptHub(t, dir, hubAddr)
	startUmbra(t, hubCfg, hubAddr)
	edgeCfg := rcptEdge(t, dir, edgeAddr, hubAddr, ", recipient_validation: off", "20s")
	edge := startUmbra(t, edgeCfg, edgeAddr)

	r := rawSend(t, edgeAddr, "victim@example.org", []string{"nobody@example.test"}, "Subject: one\r\n\r\nforged sender")
	if !strings.HasPrefix(r, "550 5.1.1") {
		edge.dumpLog()
		t.Fatalf("all refused: final reply %q, want the hub's 550 5.1.1", r)
	}
	r = rawSend(t, edgeAddr, "victim@example.org", []string{"nobody@example.test", "ghost@example.test"}, "Subject: two\r\n\r\nforged sender")
	if !strings.HasPrefix(r, "550 5.1.1") {
		t.Fatalf("two refused: final reply %q", r)
	}
	// A DSN is tracked with the original sender as its recipient.
	out, _ := cli(t, edgeCfg, "track", "--json", "--recipient", "victim@example.org")
	if strings.Contains(out, `"event": "dsn"`) {
		t.Fatalf("a DSN was made for a refused waiting sender:\n%s", out)
	}
	r = rawSend(t, edgeAddr, "sender@example.org", []string{"nobody@example.test", "alice@example.test"}, "Subject: mixed\r\n\r\nhalf")
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("one accepted: final reply %q, want 250", r)
	}
	waitCond(t, "the DSN for the refused recipient", 20*time.Second, func() bool {
		out, _ := cli(t, edgeCfg, "track", "--json", "--recipient", "sender@example.org")
		return strings.Contains(out, `"event": "dsn"`)
	})
}

// `umbra config check` parses the recipients file as the start would,
// and names the bad line.
func TestConfigCheckRecipientsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, rcptFile, _ := rcptHub(t, dir, "127.0.0.1:2525")
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("good file: %v\n%s", err, out)
	}
	// Errors at the line of recipients.file, as for every file a
	// setting names, then the file's own line where there is one.
	text, _ := os.ReadFile(cfg)
	at := ""
	for i, line := range strings.Split(string(text), "\n") {
		if strings.Contains(line, rcptFile) {
			at = fmt.Sprintf("%s:%d: recipients.file ", cfg, i+1)
		}
	}
	os.WriteFile(rcptFile, []byte("alice@example.test\nalice example.test\n"), 0o600)
	out, err = exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), at+rcptFile+":2:") {
		t.Fatalf("bad recipients file: %v\n%s", err, out)
	}
	// A file over the limit: named, at the setting's line, in the text,
	// --json and serve.
	if err := os.Truncate(rcptFile, 65<<20); err != nil { // sparse: a size, not disk
		t.Fatal(err)
	}
	want := at + rcptFile + ": file too large"
	out, err = exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), want) {
		t.Fatalf("recipients file over the limit: %v\n%s", err, out)
	}
	out, err = exec.Command(umbraBin, "config", "check", "--json", cfg).Output()
	var res configCheckResult
	if json.Unmarshal(out, &res) != nil || len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], want) {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	out, err = exec.Command(umbraBin, "serve", "-c", cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), want) {
		t.Fatalf("serve: %v\n%s", err, out)
	}
}

// A mailbox deleted at the hub after the edge cached it as valid (7 d):
// the first message to it is accepted (the cache said so) and bounced,
// but the hub's 5.1.1 replaces the cached answer, so the next RCPT for
// it is refused at once instead of accepted and bounced for days.
func TestEdgeCalloutCacheLearnsDeletedMailbox(t *testing.T) {
	dir := t.TempDir()
	hubAddr, edgeAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	hubCfg, rcptFile, _ := rcptHub(t, dir, hubAddr)
	os.WriteFile(rcptFile, []byte("alice@example.test\nbob@example.test\n"), 0o600)
	hub := startUmbra(t, hubCfg, hubAddr)
	edge := startUmbra(t, rcptEdge(t, dir, edgeAddr, hubAddr, "", "0s"), edgeAddr)
	wantReplies(t, "edge, bob exists", rcptReplies(t, edgeAddr, "bob@example.test"), map[string]string{"bob@example.test": "250"})

	os.WriteFile(rcptFile, []byte("alice@example.test\n"), 0o600)
	hub.hup()
	waitCond(t, "the hub to forget bob", 10*time.Second, func() bool {
		return strings.HasPrefix(rcptReplies(t, hubAddr, "bob@example.test")["bob@example.test"], "550 5.1.1")
	})
	wantReplies(t, "edge, cached", rcptReplies(t, edgeAddr, "bob@example.test"), map[string]string{"bob@example.test": "250"})
	if r := rawSend(t, edgeAddr, "s@example.org", []string{"alice@example.test", "bob@example.test"}, "Subject: hi\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("edge DATA: %s", r)
	}
	waitCond(t, "the edge to refuse bob at RCPT", 20*time.Second, func() bool {
		return strings.HasPrefix(rcptReplies(t, edgeAddr, "bob@example.test")["bob@example.test"], "550 5.1.1")
	})
	wantReplies(t, "edge, alice still cached", rcptReplies(t, edgeAddr, "alice@example.test"), map[string]string{"alice@example.test": "250"})
	if t.Failed() {
		edge.dumpLog()
	}
}

// A sender that never sends a message cannot grow the edge's transport
// database with RCPTs of random addresses: against a catch-all hub
// (every address answered 250), the callout cache keeps at most
// recipients.callout.max_entries answers, and the newest address still
// decides at once while the hub is down.
func TestEdgeCalloutCacheBounded(t *testing.T) {
	dir := t.TempDir()
	hubAddr, edgeAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	hubCfg, rcptFile, _ := rcptHub(t, dir, hubAddr)
	os.WriteFile(rcptFile, []byte("@example.test\n"), 0o600) // catch-all
	hub := startUmbra(t, hubCfg, hubAddr)
	edgeCfg := rcptEdge(t, dir, edgeAddr, hubAddr, "", "0s")
	editConfig(t, edgeCfg, "timeout: 5s}", "timeout: 5s, max_entries: 10}")
	edge := startUmbra(t, edgeCfg, edgeAddr)

	var random []string
	for i := range 40 {
		random = append(random, fmt.Sprintf("rnd%02dq@example.test", i))
	}
	got := rcptReplies(t, edgeAddr, random...)
	want := map[string]string{}
	for _, r := range random {
		want[r] = "250"
	}
	wantReplies(t, "edge, catch-all hub", got, want)
	hub.kill()
	wantReplies(t, "edge, hub down", rcptReplies(t, edgeAddr, random[len(random)-1]), map[string]string{random[len(random)-1]: "250"})
	edge.kill()
	s, err := queue.Open(filepath.Join(dir, "edge-data", "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.CountRecipients(); err != nil || n > 10 {
		t.Fatalf("%d callout answers kept after %d RCPTs, cap 10 (%v)", n, len(random), err)
	}
}

// route explain takes a recipient as RCPT does (a trailing-dot domain,
// bare postmaster, the domain in any case) and says when RCPT would
// refuse it: an address the directory does not know gets the 550 5.1.1
// RCPT gives, not a route that looks deliverable.
func TestRouteExplainChecksRecipient(t *testing.T) {
	dir := t.TempDir()
	hubAddr := freeAddr(t, "127.0.0.2")
	hubCfg, _, _ := rcptHub(t, dir, hubAddr)
	hub := startUmbra(t, hubCfg, hubAddr)
	got := rcptReplies(t, hubAddr, "nobody@example.test", "alice@EXAMPLE.test.")
	wantReplies(t, "hub", got, map[string]string{"nobody@example.test": "550 5.1.1", "alice@EXAMPLE.test.": "250"})
	// Paths RCPT reads before the address: quotes, a source route.
	paths := []string{`"alice"@example.test`, `@a,@b:alice@example.test`, `"al\ice"@example.test`, `"a b"@example.test`}
	atRcpt := rcptReplies(t, hubAddr, paths...)
	// "a b" is an address (a space is qtextSMTP, rt29b F3) the directory
	// does not know.
	wantReplies(t, "paths", atRcpt, map[string]string{paths[0]: "250", paths[1]: "250", paths[2]: "250", paths[3]: "550 5.1.1"})
	lits := rcptReplies(t, hubAddr, "u@[127.0.0.9]", "postmaster@[192.0.2.1]")
	wantReplies(t, "address literals", lits, map[string]string{"u@[127.0.0.9]": "550 5.1.2", "postmaster@[192.0.2.1]": "550 5.1.2"})
	// IP-address text without brackets is no domain either: refused,
	// never resolved (the resolver would take it for that address).
	ipText := rcptReplies(t, hubAddr, "u@127.0.0.9", "u@127.1", "u@::1", "u@[not-an-ip")
	wantReplies(t, "IP-address text", ipText, map[string]string{"u@127.0.0.9": "550 5.1.2", "u@127.1": "550 5.1.2", "u@::1": "550 5.1.2", "u@[not-an-ip": "501 5.1.3"})
	hub.kill()

	explain := func(args ...string) (routeExplanation, string, int) {
		t.Helper()
		out, errOut, code := cliAll(t, hubCfg, append([]string{"route", "explain", "--json"}, args...)...)
		var ex routeExplanation
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &ex); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
		return ex, errOut, code
	}
	ex, errOut, code := explain("nobody@example.test", "alice@EXAMPLE.test.", "postmaster")
	if code != 0 || len(ex.Recipients) != 3 {
		t.Fatalf("exit %d, %+v %s", code, ex.Recipients, errOut)
	}
	if r := ex.Recipients[0]; !strings.HasPrefix(r.RCPT, "550 5.1.1") {
		t.Errorf("unknown recipient: %+v, want the 550 5.1.1 of RCPT", r)
	}
	if r := ex.Recipients[1]; r.Address != "alice@example.test" || !strings.HasPrefix(r.RCPT, "250") {
		t.Errorf("trailing dot: %+v, want alice@example.test accepted", r)
	}
	// The rcpt: line is the code RCPT gives, enhanced code included
	// (rt38 F11: it said 2.1.5 where RCPT says 2.0.0).
	if real := got["alice@EXAMPLE.test."]; len(real) < 9 || !strings.HasPrefix(ex.Recipients[1].RCPT, real[:9]) {
		t.Errorf("route explain predicts %q, RCPT answered %q", ex.Recipients[1].RCPT, real)
	}
	if r := ex.Recipients[2]; !strings.HasPrefix(r.Address, "postmaster@") || !strings.HasPrefix(r.RCPT, "250") {
		t.Errorf("bare postmaster: %+v", r)
	}
	if ex.Routes[1].Recipient != "alice@example.test" {
		t.Errorf("the route is not explained for the address as RCPT takes it: %+v", ex.Routes[1])
	}
	// Refused by the address alone: no route, exit 64 (TestRouteExplainRefusedHasNoRoute).
	if _, errOut, code := explain("u@[127.0.0.9]"); code != exitUsage || !strings.Contains(errOut, "550 5.1.2") {
		t.Errorf("address literal: exit %d %s; want the 550 5.1.2 of RCPT", code, errOut)
	}
	if _, errOut, code := explain("u@127.0.0.9"); code != exitUsage || !strings.Contains(errOut, "550 5.1.2") {
		t.Errorf("IP-address text: exit %d %s; want the 550 5.1.2 of RCPT", code, errOut)
	}
	if _, errOut, code := explain("u@::1"); code != exitUsage || !strings.Contains(errOut, "550 5.1.2") {
		t.Errorf("IPv6 address text: exit %d %s; want the 550 5.1.2 of RCPT", code, errOut)
	}
	out, _, _ := cliAll(t, hubCfg, "route", "explain", "nobody@example.test")
	if !strings.Contains(out, "550 5.1.1") {
		t.Errorf("the table does not say RCPT refuses nobody:\n%s", out)
	}
	if _, _, code := explain("a b@example.test"); code != exitUsage {
		t.Errorf("a syntax RCPT refuses: exit %d", code)
	}
	// Each path gets the answer RCPT gave it, for the address RCPT took.
	for _, p := range paths {
		ex, errOut, code := explain(p)
		if strings.HasPrefix(atRcpt[p], "501") {
			if code != exitUsage {
				t.Errorf("%s: RCPT said %q, explain exit %d %+v", p, atRcpt[p], code, ex.Recipients)
			}
			continue
		}
		if code != 0 || len(ex.Recipients) != 1 {
			t.Errorf("%s: RCPT said %q, explain exit %d: %s", p, atRcpt[p], code, errOut)
			continue
		}
		wantAddr, wantRCPT := "alice@example.test", "250"
		if p == paths[3] {
			wantAddr, wantRCPT = p, "550 5.1.1"
		}
		if r := ex.Recipients[0]; r.Address != wantAddr || !strings.HasPrefix(r.RCPT, wantRCPT) {
			t.Errorf("%s: RCPT said %q, explain %+v", p, atRcpt[p], r)
		}
	}
}

// Quoted local parts at RCPT, as the README says: a quoted dot-string is
// the same mailbox unquoted and accepted; one whose content needs the
// quotes (a space) is an address the recipient checks answer (550 5.1.1
// here: the directory does not know it; rt29b F3); one holding an @ is
// refused 501 5.1.3, never read as another address.
func TestRcptQuotedLocalPart(t *testing.T) {
	dir := t.TempDir()
	hubAddr := freeAddr(t, "127.0.0.2")
	hubCfg, rcptFile, _ := rcptHub(t, dir, hubAddr)
	os.WriteFile(rcptFile, []byte("john.doe@example.test\n"), 0o600)
	startUmbra(t, hubCfg, hubAddr)
	wantReplies(t, "quoted", rcptReplies(t, hubAddr, `"john.doe"@example.test`, `"a b"@example.test`, `"x@ext.example"@example.test`),
		map[string]string{`"john.doe"@example.test`: "250", `"a b"@example.test`: "550 5.1.1", `"x@ext.example"@example.test`: "501 5.1.3"})
}

// scriptedHub is a next hop on real TCP that answers RCPT from replies
// (default 250) and counts the RCPTs per address. Sessions end at QUIT.
func scriptedHub(t *testing.T, listen string, replies map[string]string) func(addr string) int {
	t.Helper()
	ln := testsupport.Listen(t, listen)
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	asked := map[string]int{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				fmt.Fprintf(c, "220 hub.test ESMTP\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"):
						fmt.Fprintf(c, "250-hub.test\r\n250 8BITMIME\r\n")
					case strings.HasPrefix(cmd, "RCPT TO:<"):
						a := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(line)[len("RCPT TO:<"):], ">"))
						mu.Lock()
						asked[a]++
						mu.Unlock()
						if rep, ok := replies[a]; ok {
							fmt.Fprintf(c, "%s\r\n", rep)
						} else {
							fmt.Fprintf(c, "250 2.1.5 ok\r\n")
						}
					case cmd == "QUIT":
						fmt.Fprintf(c, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(c, "250 2.0.0 ok\r\n")
					}
				}
			}()
		}
	}()
	return func(a string) int {
		mu.Lock()
		defer mu.Unlock()
		return asked[a]
	}
}

// rt39 F3: the edge's callout passes on a hub's refusal that is not
// about the mailbox's existence (552 5.2.2 mailbox full, 550 5.7.1
// policy) and does not cache it: the next RCPT asks again. Only a 5.1.x
// answer is an unknown user, refused with 550 5.1.1 and cached.
func TestEdgeCalloutPassesOnHubRefusal(t *testing.T) {
	dir := t.TempDir()
	hubAddr, edgeAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	asked := scriptedHub(t, hubAddr, map[string]string{
		"full@example.test": "552 5.2.2 mailbox full",
		"pol@example.test":  "550 5.7.1 policy refusal",
		"gone@example.test": "550 5.1.1 no such user",
	})
	edge := startUmbra(t, rcptEdge(t, dir, edgeAddr, hubAddr, "", "0s"), edgeAddr)
	want := map[string]string{
		"full@example.test":  "552 5.2.2 Recipient address rejected by the next hop: the recipient's mailbox is full",
		"pol@example.test":   "550 5.7.1 Recipient address rejected by the next hop: delivery not authorized, message refused",
		"gone@example.test":  "550 5.1.1",
		"alice@example.test": "250",
	}
	addrs := []string{"full@example.test", "pol@example.test", "gone@example.test", "alice@example.test"}
	wantReplies(t, "first", rcptReplies(t, edgeAddr, addrs...), want)
	wantReplies(t, "second", rcptReplies(t, edgeAddr, addrs...), want)
	if asked("full@example.test") != 2 || asked("pol@example.test") != 2 || asked("gone@example.test") != 1 || asked("alice@example.test") != 1 {
		t.Errorf("callouts per address: full %d pol %d gone %d alice %d (want 2 2 1 1: refusals not cached)",
			asked("full@example.test"), asked("pol@example.test"), asked("gone@example.test"), asked("alice@example.test"))
	}
	if t.Failed() {
		edge.dumpLog()
	}
}

// SMTP-6 (rt36 F4): the edge's callout passes on a hub's temporary
// refusal of the address (452 4.2.2 mailbox full, 451 4.3.0) as it does
// a permanent one that is not about the mailbox's existence: the sender
// gets the hub's code and enhanced code, with the status's reason as the
// text (the hub's own text, which here names an inside host, goes to the
// log only), never umbra's "451 4.3.0 Recipient address cannot be
// verified now". Not cached: the next RCPT asks again. A real SMTP hub
// on loopback.
func TestEdgeCalloutPassesOnHubTemporaryRefusal(t *testing.T) {
	dir := t.TempDir()
	hubAddr, edgeAddr := "127.0.0.170:9010", "127.0.0.170:9011"
	asked := scriptedHub(t, hubAddr, map[string]string{
		"busy@example.test":  "452 4.2.2 mailbox full on mbx3.corp.internal",
		"later@example.test": "451 4.3.0 try again later",
		"bare@example.test":  "450 no enhanced code",
	})
	edge := startUmbra(t, rcptEdge(t, dir, edgeAddr, hubAddr, "", "0s"), edgeAddr)
	want := map[string]string{
		"busy@example.test":  "452 4.2.2 Recipient address temporarily refused by the next hop: the recipient's mailbox is full",
		"later@example.test": "451 4.3.0 Recipient address temporarily refused by the next hop: mail system problem",
		"bare@example.test":  "450 4.0.0 Recipient address temporarily refused by the next hop: temporary failure",
		"alice@example.test": "250",
	}
	addrs := []string{"busy@example.test", "later@example.test", "bare@example.test", "alice@example.test"}
	for _, round := range []string{"first", "second"} {
		got := rcptReplies(t, edgeAddr, addrs...)
		wantReplies(t, round, got, want)
		if strings.Contains(got["busy@example.test"], "mbx3") {
			t.Errorf("%s: the hub's own text reached the client: %q", round, got["busy@example.test"])
		}
	}
	if asked("busy@example.test") != 2 || asked("later@example.test") != 2 || asked("alice@example.test") != 1 {
		t.Errorf("callouts per address: busy %d later %d alice %d (want 2 2 1: temporary refusals not cached)",
			asked("busy@example.test"), asked("later@example.test"), asked("alice@example.test"))
	}
	if t.Failed() {
		edge.dumpLog()
	}
}

// SMTP-6 (edge callout): a hub's 421 to the callout's RCPT TO says the hub
// is closing its channel to the edge — nothing about the address, and
// no reply the edge may give the sender while its own session goes on
// (RFC 5321 §3.8: 421 announces the server closes the channel; a client
// that reads it drops the session and every recipient already taken in
// the transaction). The sender gets a 4xx that is not 421.
func TestEdgeCalloutHub421NotPassedOnAs421(t *testing.T) {
	dir := t.TempDir()
	hubAddr, edgeAddr := "127.0.0.154:7550", "127.0.0.154:7551"
	scriptedHub(t, hubAddr, map[string]string{
		"shut@example.test": "421 4.3.2 hub.corp.internal shutting down",
	})
	edge := startUmbra(t, rcptEdge(t, dir, edgeAddr, hubAddr, "", "0s"), edgeAddr)
	got := rcptReplies(t, edgeAddr, "alice@example.test", "shut@example.test", "bob@example.test")
	if r := got["shut@example.test"]; !strings.HasPrefix(r, "4") || strings.HasPrefix(r, "421") {
		t.Errorf("RCPT TO:<shut@example.test> got %q; want a 4xx that is not 421 (the edge's session goes on)", r)
	}
	wantReplies(t, "after 421", got, map[string]string{"alice@example.test": "250", "bob@example.test": "250"})
	if t.Failed() {
		edge.dumpLog()
	}
}
