package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// cli runs the umbra binary against a daemon's configuration and returns
// standard output and the exit code.
func cli(t testing.TB, cfg string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// The queue and message commands change what the daemon does: a suspended
// queue delivers nothing until resumed, a removed message never arrives,
// --ndr produces a bounce, and export returns the message as received.
func TestCLIManagesRunningDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down for now
	d := startUmbra(t, cfg, listen)
	acked := sendAll(t, nil, listen, "cli", 3, 1)

	var qs []queue.QueueInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "queue", "list", "--json")
		if code != 0 {
			t.Fatalf("queue list: exit %d", code)
		}
		json.Unmarshal([]byte(out), &qs)
		if len(qs) == 1 && qs[0].Name == "smarthost:sink" && qs[0].Count == 3 && qs[0].Status == "retry" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue list: %+v", qs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, code := cli(t, cfg, "queue", "list", "--json", "--filter", "status=ready"); code != 0 || strings.TrimSpace(out) != "null" {
		t.Fatalf("filter status=ready matched a retrying queue: %d %s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "list", "--filter", "type=smtp-smart-host", "--filter", "sink"); code != 0 || !strings.Contains(out, "smarthost:sink") {
		t.Fatalf("filters: %d %s", code, out)
	}
	if _, code := cli(t, cfg, "queue", "list", "--filter", "colour=red"); code != exitUsage {
		t.Fatalf("unknown filter: exit %d", code)
	}
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 || !strings.Contains(out, "suspend") {
		t.Fatalf("suspend: %d %s", code, out)
	}
	r := startRecorder(t, sinkAddr)

	bySubject := map[string]string{}
	out, _ := cli(t, cfg, "message", "list", "--json", "--queue", "smarthost:sink")
	var ms []admin.MessageView
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 3 {
		t.Fatalf("message list: %v %s", err, out)
	}
	for _, m := range ms {
		eml, code := cli(t, cfg, "message", "export", m.ID)
		if code != 0 || !strings.HasPrefix(eml, "Received: from ") {
			t.Fatalf("export %s: %d\n%s", m.ID, code, eml)
		}
		for _, s := range acked {
			if strings.Contains(eml, "Subject: "+s+"\r\n") {
				bySubject[s] = m.ID
			}
		}
	}
	if _, code := cli(t, cfg, "message", "remove", bySubject["cli-0"]); code != 0 {
		t.Fatalf("remove: exit %d", code)
	}
	if _, code := cli(t, cfg, "message", "remove", "--ndr", bySubject["cli-1"]); code != 0 {
		t.Fatalf("remove --ndr: exit %d", code)
	}
	if _, code := cli(t, cfg, "message", "show", bySubject["cli-0"]); code != exitNotFound {
		t.Fatalf("show of a removed message: exit %d, want %d", code, exitNotFound)
	}
	if _, code := cli(t, cfg, "message", "show", "not-an-id"); code != exitUsage {
		t.Fatalf("show of a malformed id: exit %d, want %d", code, exitUsage)
	}
	// A --domain that is no domain is refused, not passed on to select
	// nothing; one written with "@" and a final dot is the domain.
	for _, args := range [][]string{{"message", "list", "--domain", "a b"}, {"message", "suspend", "--domain", "a..b"}} {
		if out, code := cli(t, cfg, args...); code != exitUsage {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, exitUsage, out)
		}
	}
	if _, code := cli(t, cfg, "message", "list", "--domain", "@Example.TEST."); code != 0 {
		t.Fatalf("message list --domain @Example.TEST.: exit %d", code)
	}

	time.Sleep(2500 * time.Millisecond) // two retry intervals while suspended
	if got := r.counts(); len(got) != 0 {
		t.Fatalf("a suspended queue delivered: %v", got)
	}
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 {
		t.Fatalf("resume: %d %s", code, out)
	}
	waitArrived(t, r, []string{"cli-2", "Undelivered Mail Returned to Sender"}, d)
	if got := r.counts(); got["cli-0"]+got["cli-1"] != 0 {
		t.Fatalf("a removed message arrived: %v", got)
	}

	// The tracking log tells the whole story of cli-2, by umbra id.
	var es []tracking.Entry
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "track", "--json", "--message-id", bySubject["cli-2"])
		json.Unmarshal([]byte(out), &es)
		var events []string
		for _, e := range es {
			events = append(events, e.Event)
		}
		got := strings.Join(events, ",")
		if code == 0 && strings.HasPrefix(got, "receive,defer") && strings.HasSuffix(got, ",send") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("track: exit %d, events %s", code, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, _ := cli(t, cfg, "track", "--json", "--message-id", bySubject["cli-0"]); !strings.Contains(out, `"event": "remove"`) {
		t.Errorf("the removal is not tracked:\n%s", out)
	}
	if _, code := cli(t, cfg, "track"); code != exitUsage {
		t.Errorf("track without a filter: exit %d", code)
	}

	d.kill()
	if _, code := cli(t, cfg, "queue", "list"); code != exitUnavailable {
		t.Fatalf("queue list without a daemon: exit %d, want %d", code, exitUnavailable)
	}
}

// queue redirect sends what waits for a dead next hop to another server.
func TestCLIRedirectQueue(t *testing.T) {
	dir := t.TempDir()
	listen, deadAddr, otherAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, deadAddr)
	d := startUmbra(t, cfg, listen)
	// A queue the configuration names that holds nothing yet: exit 3,
	// saying so, not "no queue; valid: none now" (rt51 F8), which
	// queue suspend contradicts by listing it as valid.
	if _, errOut, code := cliAll(t, cfg, "queue", "redirect", "smarthost:sink", "--to", otherAddr); code != exitNotFound ||
		!strings.Contains(errOut, `"smarthost:sink" holds no message now`) {
		t.Errorf("redirect of the empty queue: exit %d %q", code, errOut)
	}
	acked := sendMany(listen, "redirect", 4, 2, nil)
	other := startRecorder(t, otherAddr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// To this server's own listener the mail would only loop back
		// and wait with 451 4.4.6: refused, saying why, nothing moved.
		cmd := exec.Command(umbraBin, "--config", cfg, "queue", "redirect", "smarthost:sink", "--to", listen)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == exitNotFound && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond) // the queue does not exist yet
			continue
		} else if !ok || ee.ExitCode() != exitFailure || !strings.Contains(stderr.String(), "loop back here") {
			t.Fatalf("redirect to this server's own listener %s: %v %q, want exit %d saying the mail would loop back", listen, err, stderr.String(), exitFailure)
		}
		// rt35 F5: the same listener with its port written otherwise
		// (leading zeros, a sign: the dialer reads them as the number)
		// is refused before any lookup, so nothing loops either.
		h, p, _ := net.SplitHostPort(listen)
		for _, odd := range []string{net.JoinHostPort(h, "0"+p), net.JoinHostPort(h, "+"+p)} {
			cmd := exec.Command(umbraBin, "--config", cfg, "queue", "redirect", "smarthost:sink", "--to", odd)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			// A sign is no port (mailaddr.ValidPort, digits only), a
			// leading zero no way to write one (config.CheckHostPort).
			want := "has a leading zero"
			if strings.Contains(odd, "+") {
				want = "is not a number from 1 to 65535"
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), want) {
				t.Fatalf("redirect to %s: %v %q, want exit %d refusing the port", odd, err, stderr.String(), exitUsage)
			}
		}
		out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", otherAddr, "--json")
		var res struct{ Messages int }
		json.Unmarshal([]byte(out), &res)
		if code != 0 && code != exitNotFound { // 3: the queue does not exist yet
			t.Fatalf("redirect: exit %d %s", code, out)
		}
		if res.Messages == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redirected %d of 4", res.Messages)
		}
		time.Sleep(100 * time.Millisecond) // until all four were deferred once
	}
	waitArrived(t, other, acked, d)
	if _, code := cli(t, cfg, "queue", "redirect", "smarthost:sink"); code != exitUsage {
		t.Errorf("redirect without --to: exit %d", code)
	}
}

// queue redirect of a suspended queue (maintenance: hold the mail, then
// send it to a standby) moves its recipients to the redirect's queue at
// once: the listings show where the mail goes, a second redirect finds
// nothing left to move, the message is delivered to the target although
// its old queue stays suspended, and resume has nothing to release. A
// target that is neither an IP address nor a host name is refused with
// nothing changed.
func TestCLIRedirectSuspendedQueue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, deadAddr, otherAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, deadAddr)
	d := startUmbra(t, cfg, listen)
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	acked := sendAll(t, nil, listen, "held", 1, 1)
	waitCond(t, "the message held in smarthost:sink", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json", "--queue", "smarthost:sink")
		var ms []admin.MessageView
		json.Unmarshal([]byte(out), &ms)
		return len(ms) == 1
	})
	for _, bad := range []string{"999.1.1.1", "256.0.0.1:25", "1.2.3"} {
		if out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", bad); code != exitUsage {
			t.Errorf("redirect to %s: exit %d %s", bad, code, out)
		}
	}
	redirect := func() int {
		t.Helper()
		// rt35 F5: the same listener with its port written otherwise
		// (leading zeros, a sign: the dialer reads them as the number)
		// is refused before any lookup, so nothing loops either.
		h, p, _ := net.SplitHostPort(listen)
		for _, odd := range []string{net.JoinHostPort(h, "0"+p), net.JoinHostPort(h, "+"+p)} {
			cmd := exec.Command(umbraBin, "--config", cfg, "queue", "redirect", "smarthost:sink", "--to", odd)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			// A sign is no port (mailaddr.ValidPort, digits only), a
			// leading zero no way to write one (config.CheckHostPort).
			want := "has a leading zero"
			if strings.Contains(odd, "+") {
				want = "is not a number from 1 to 65535"
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), want) {
				t.Fatalf("redirect to %s: %v %q, want exit %d refusing the port", odd, err, stderr.String(), exitUsage)
			}
		}
		out, code := cli(t, cfg, "queue", "redirect", "smarthost:sink", "--to", otherAddr, "--json")
		var res struct{ Messages int }
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
			t.Fatalf("redirect: exit %d %s", code, out)
		}
		return res.Messages
	}
	if n := redirect(); n != 1 {
		t.Fatalf("redirected %d, want 1", n)
	}
	out, _ := cli(t, cfg, "message", "list", "--json")
	var ms []admin.MessageView
	json.Unmarshal([]byte(out), &ms)
	if len(ms) != 1 || len(ms[0].Queues) != 1 || ms[0].Queues[0] != "redirect:"+otherAddr {
		t.Errorf("after the redirect the message is listed in %+v, want redirect:%s", ms, otherAddr)
	}
	if n := redirect(); n != 0 {
		t.Errorf("a second redirect moved %d messages again", n)
	}
	other := startRecorder(t, otherAddr)
	waitArrived(t, other, acked, d)
	if out, code := cli(t, cfg, "queue", "resume", "smarthost:sink"); code != 0 || !strings.Contains(out, "0 messages") {
		t.Errorf("resume after the redirect: exit %d %s", code, out)
	}
}

// The operator's tools as a Postfix administrator uses them: typos fail
// with the valid names (exit 3), bulk actions by filter and by ids on
// standard input with --dry-run, flush, the row limit said, message state
// and queue status agree, every action audited with the actor, and track
// reads the log files with the daemon stopped.
func TestCLIBulkAuditAndTypos(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down for now
	// Only the operator moves these messages after their first attempt:
	// a scheduled retry would race the retry by hand below.
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), "retry_schedule: [1s]", "retry_schedule: [1h]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	sendAll(t, nil, listen, "bulk", 6, 1)
	// Every message deferred once: they wait for a retry, and say so as
	// their queue does.
	waitCond(t, "six messages waiting for a retry", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json", "--state", "retry")
		var ms []admin.MessageView
		json.Unmarshal([]byte(out), &ms)
		return len(ms) == 6
	})
	out, _ := cli(t, cfg, "queue", "list", "--json")
	var qs []queue.QueueInfo
	json.Unmarshal([]byte(out), &qs)
	if len(qs) != 1 || qs[0].Status != "retry" || qs[0].ByState["retry"] == 0 || qs[0].ByState["ready"] != 0 {
		t.Errorf("queue of messages waiting for a retry: %+v", qs)
	}

	// Typos: exit 3 with the valid names, and no phantom queue.
	for _, args := range [][]string{
		{"queue", "suspend", "nosuch:queue"}, {"queue", "retry", "all"}, {"queue", "resume", "smarthost:typo"},
		{"message", "list", "--state", "bogus"}, {"message", "list", "--queue", "nosuch"},
		{"message", "suspend", "--queue", "nosuch"}, {"track", "--event", "bogus"}, {"dumpster", "list", "--database", "nosuch"},
	} {
		cmd := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, _ := err.(*exec.ExitError)
		if ee == nil || ee.ExitCode() != exitNotFound || !strings.Contains(stderr.String(), "valid:") {
			t.Errorf("%v: %v, stderr %q; want exit %d with the valid names", args, err, stderr.String(), exitNotFound)
		}
	}
	out, _ = cli(t, cfg, "queue", "list", "--json")
	if strings.Contains(out, "nosuch") {
		t.Errorf("a typo created a queue: %s", out)
	}

	// The row limit is said.
	cmd := exec.Command(umbraBin, "--config", cfg, "message", "list", "--limit", "2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if listing, err := cmd.Output(); err != nil || strings.Count(string(listing), "\n") != 3 || !strings.Contains(stderr.String(), "stopped at the limit of 2") {
		t.Errorf("list --limit 2: %v\n%s\nstderr: %s", err, listing, stderr.String())
	}

	// Bulk by filter: a dry run changes nothing, then suspend all six.
	out, code := cli(t, cfg, "message", "suspend", "--from", "a@example.org", "--dry-run", "--json")
	var res admin.BulkResult
	if json.Unmarshal([]byte(out), &res); code != 0 || !res.DryRun || res.Matched != 6 || len(res.Done) != 6 {
		t.Fatalf("dry run: exit %d %s", code, out)
	}
	if out, _ := cli(t, cfg, "message", "list", "--json", "--state", "suspended"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("the dry run suspended messages: %s", out)
	}
	if out, code := cli(t, cfg, "message", "suspend", "--domain", "remote.example", "--older-than", "0s"); code != 0 ||
		!strings.Contains(out, "6 messages matched, 6 suspend, 0 failed") {
		t.Fatalf("suspend by domain: exit %d\n%s", code, out)
	}
	// Ids from standard input: resume three of them as listed.
	listing, _ := cli(t, cfg, "message", "list", "--state", "suspended", "--limit", "3")
	stdin := exec.Command(umbraBin, "--config", cfg, "message", "resume", "-")
	stdin.Stdin = strings.NewReader(listing)
	if b, err := stdin.Output(); err != nil || !strings.Contains(string(b), "3 messages matched, 3 resume, 0 failed") {
		t.Fatalf("resume from stdin: %v\n%s", err, b)
	}
	// Remove one: the tracking log keeps its envelope and the actor.
	out, _ = cli(t, cfg, "message", "list", "--json", "--state", "suspended", "--limit", "1")
	var ms []admin.MessageView
	if json.Unmarshal([]byte(out), &ms); len(ms) != 1 {
		t.Fatalf("suspended: %s", out)
	}
	victim := ms[0]
	if out, code := cli(t, cfg, "message", "show", victim.ID); code != 0 || !strings.Contains(out, "subject:    bulk-") {
		t.Errorf("show names no subject: %s", out)
	}
	out, code = cli(t, cfg, "message", "export", "--json", victim.ID)
	var exp struct {
		ID  string
		EML string
	}
	if json.Unmarshal([]byte(out), &exp); code != 0 || exp.ID != victim.ID || !strings.HasPrefix(exp.EML, "Received: from ") {
		t.Errorf("export --json: exit %d\n%s", code, out)
	}
	if _, code := cli(t, cfg, "message", "remove", victim.ID); code != 0 {
		t.Fatalf("remove: exit %d", code)
	}
	// The rest: resumed, then flushed to a sink that now answers.
	if _, code := cli(t, cfg, "message", "resume", "--state", "suspended"); code != 0 {
		t.Fatal("resume by state")
	}
	r := startRecorder(t, sinkAddr)
	// One message retried by hand, then the rest by flush.
	out, _ = cli(t, cfg, "message", "list", "--json", "--state", "retry", "--limit", "1")
	if json.Unmarshal([]byte(out), &ms); len(ms) != 1 {
		t.Fatalf("waiting for a retry: %s", out)
	}
	if out, code := cli(t, cfg, "message", "retry", ms[0].ID); code != 0 || !strings.Contains(out, ms[0].ID+": retry") {
		t.Fatalf("retry: exit %d %s", code, out)
	}
	waitCond(t, "the retried message delivered", 30*time.Second, func() bool {
		_, code := cli(t, cfg, "message", "show", ms[0].ID)
		return code == exitNotFound
	})
	if out, code := cli(t, cfg, "queue", "flush"); code != 0 || !strings.Contains(out, "flush:") {
		t.Fatalf("flush: %d %s", code, out)
	}
	waitCond(t, "five messages delivered", 30*time.Second, func() bool {
		n := 0
		for _, c := range r.counts() {
			n += c
		}
		return n == 5
	})

	d.kill()
	// track without the daemon: the removal with its envelope, and the
	// operator actions with who did them.
	out, code = cli(t, cfg, "track", "--json", "--message-id", victim.ID)
	if code != 0 {
		t.Fatalf("track without the daemon: exit %d %s", code, out)
	}
	var es []tracking.Entry
	json.Unmarshal([]byte(out), &es)
	var removed, audited bool
	who := fmt.Sprintf("uid=%d", os.Getuid())
	for _, e := range es {
		if e.Event == "remove" && e.Sender == "a@example.org" && len(e.Recipients) == 1 && e.MessageID == victim.MessageID {
			removed = true
		}
		if e.Event == "admin" && e.Action == "message remove" && strings.HasPrefix(e.Actor, who) && e.Sender == "a@example.org" {
			audited = true
		}
	}
	if !removed || !audited {
		t.Errorf("tracking of the removal (envelope %v, audit %v):\n%s", removed, audited, out)
	}
	out, _ = cli(t, cfg, "track", "--json", "--event", "admin", "--since", "1h")
	json.Unmarshal([]byte(out), &es)
	actions, refusedOn := map[string]int{}, map[string]string{}
	for _, e := range es {
		if strings.HasPrefix(e.Reply, "refused: ") {
			refusedOn[e.Action] = e.Queue // the typos above, refused before any action
			continue
		}
		actions[e.Action]++
	}
	// A command by filter is one line with its counts (rt20d-F1), and so
	// is one given ids (from standard input: done in batches as a
	// filter's, tests23): the resume by state and the resume of three ids.
	if actions["message suspend"] != 1 || actions["message resume"] != 2 || actions["message retry"] != 1 || actions["queue flush"] != 1 {
		t.Errorf("audited actions: %v", actions)
	}
	// The bulk command refused for its typo is audited as refused (OPS-5),
	// as a refused queue action is.
	if q, ok := refusedOn["message suspend"]; !ok || q != "nosuch" {
		t.Errorf("the refused message suspend --queue nosuch: audited %v (refused lines %v)", ok, refusedOn)
	}
	raw, _ = os.ReadFile(filepath.Join(dir, "data", "tracking.log"))
	if victim.MessageID != "" && !strings.Contains(string(raw), victim.MessageID) {
		t.Errorf("grep %s finds nothing in the tracking log", victim.MessageID)
	}
}
