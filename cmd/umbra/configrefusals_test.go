package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// SMTP-5 (rt29c F3): a receive connector with a credentials file
// and no auth.mechanisms (left out, ~ or []) offers no AUTH, so its
// accounts and its authenticated rights are dead: config check and
// serve refuse it at the line of each such setting instead of starting
// with SMTP AUTH off.
func TestCredentialsFileWithoutMechanismsRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("alice:$2a$04$4ZdY0p1mY0p1mY0p1mY0puQ3tW2oQv2qJzqvZ0eN7r0m9q0s1G2nO\n"), 0o600)
	for _, mech := range []string{"", "mechanisms: ~, ", "mechanisms: [], "} {
		cfg := filepath.Join(dir, "hub.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.creds.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, filepath.Join(dir, "data"), submitConnector("in", "127.0.0.160:12025",
			`auth: {`+mech+`credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
		checkFails(t, "mechanisms "+mech, cfg, lineOf(t, cfg, "credentials_file: "+creds)+
			"receive_connectors[0].auth.credentials_file is set but auth.mechanisms is empty")
	}
}

// OPS config (rt29c F2): a send connector's max_connections: 0 was
// taken as max_connections_per_destination (queue destinations showed
// 6/10); config check and serve refuse it at its line.
func TestSendConnectorMaxConnectionsZeroRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.zero.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: ["127.0.0.161:12026"]
    max_connections: 0
%s`, filepath.Join(dir, "data"), submitConnector("in", "127.0.0.160:12025"))), 0o600)
	checkFails(t, "max_connections: 0", cfg, lineOf(t, cfg, "max_connections: 0")+"send_connectors[0].max_connections: 0 is refused")
}

// OPS-4 (rt29c F4): UmbraQueueLeftSuspended counts the queues an
// operator suspended (umbra_queues_suspended) and points at the command
// that lists them. queue list --filter status=suspended also lists a
// queue shown suspended only because each of its messages was (message
// suspend), which the gauge does not count; queue list --suspended lists
// exactly what it counts.
func TestSuspendedQueuesListedAsTheGaugeCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := slowRetryConfig(t, dir, listen, sink)
	metricsAddr := withMetrics(t, cfg)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sendAll(t, d, listen, "held", 1, 1)
	waitNoneInDelivery(t, cfg)
	if out, code := cli(t, cfg, "message", "suspend", "--all"); code != 0 {
		t.Fatalf("message suspend --all: exit %d %q", code, out)
	}
	if out, code := cli(t, cfg, "queue", "suspend", "mailbox:local"); code != 0 {
		t.Fatalf("queue suspend mailbox:local: exit %d %q", code, out)
	}
	names := func(args ...string) []string {
		t.Helper()
		out, code := cli(t, cfg, append([]string{"queue", "list", "--json"}, args...)...)
		var qs []queue.QueueInfo
		if code != 0 || json.Unmarshal([]byte(out), &qs) != nil {
			t.Fatalf("queue list %v: exit %d %q", args, code, out)
		}
		var ns []string
		for _, q := range qs {
			ns = append(ns, q.Name)
		}
		sort.Strings(ns)
		return ns
	}
	if got := names("--filter", "status=suspended"); !slices.Equal(got, []string{"mailbox:local", "smarthost:sink"}) {
		t.Errorf("queue list --filter status=suspended: %v; want both queues (the premise)", got)
	}
	if got := names("--suspended"); !slices.Equal(got, []string{"mailbox:local"}) {
		t.Errorf("queue list --suspended: %v; want only the queue an operator suspended", got)
	}
	scrape, err := scrapeMetrics(metricsAddr)
	if err != nil || !strings.Contains(scrape, "\numbra_queues_suspended 1\n") {
		t.Errorf("umbra_queues_suspended: %v\n%s", err, grepLines(scrape, "umbra_queues_suspended"))
	}
	rules, err := os.ReadFile("../../deploy/prometheus-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rules), "(umbra queue list --suspended;") || strings.Contains(string(rules), "status=suspended") {
		t.Errorf("UmbraQueueLeftSuspended does not point at umbra queue list --suspended")
	}
}

// OPS-4 (rt29c F4): the alert rules pass their promtool unit tests
// (deploy/prometheus-rules.test.yaml: quarantined messages do not page
// as old mail, damaged records page at once, the summaries' commands and
// units), and every summary that points at the log names the edge's
// unit as well as the hub's: the rules serve both.
func TestPrometheusRulesUnitTests(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../deploy/prometheus-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "summary:") && strings.Contains(l, "umbra-hub") != strings.Contains(l, "umbra-edge") {
			t.Errorf("prometheus-rules.yaml:%d: a summary names one unit only: %s", i+1, strings.TrimSpace(l))
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
	}
	cmd := exec.Command(promtool, "test", "rules", "prometheus-rules.test.yaml")
	cmd.Dir = "../../deploy"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// OPS-3 (rt29c F5): deploy/umbra.logrotate rotates the tracking log
// without a reload. SIGHUP is a full reload of the configuration (a
// half-finished edit applied, or a failed reload alerting), not a
// reopen; the daemon follows a rotation from outside by itself, at the
// next event. Here a real serve: the log is moved aside and a new empty
// file created (logrotate's create), no signal sent, and the next
// message's events go to the new file, none to the moved one.
func TestOutsideRotationFollowedWithoutSignal(t *testing.T) {
	rot, err := os.ReadFile("../../deploy/umbra.logrotate")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(rot), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for _, bad := range []string{"postrotate", "prerotate", "HUP", "kill", "reload"} {
			if strings.Contains(l, bad) {
				t.Errorf("deploy/umbra.logrotate:%d: %q: a rotation must not reload the configuration", i+1, bad)
			}
		}
	}

	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	r := startRecorder(t, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	path := filepath.Join(dir, "data", "tracking.log")
	has := func(p, subject string) bool { b, _ := os.ReadFile(p); return strings.Contains(string(b), subject) }
	if ok, err := send(listen, "before-rotation"); !ok || err != nil {
		t.Fatalf("send: %v %v", ok, err)
	}
	waitCond(t, "the first message tracked", 30*time.Second, func() bool { return r.counts()["before-rotation"] == 1 && has(path, `"event":"send"`) })
	if err := os.Rename(path, path+"-20261205"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if ok, err := send(listen, "after-rotation"); !ok || err != nil {
		t.Fatalf("send: %v %v", ok, err)
	}
	waitCond(t, "the second message tracked in the new file", 30*time.Second, func() bool {
		b, _ := os.ReadFile(path)
		return r.counts()["after-rotation"] == 1 && strings.Count(string(b), `"event":"receive"`) == 1 && has(path, `"event":"send"`)
	})
	moved, _ := os.ReadFile(path + "-20261205")
	if n := strings.Count(string(moved), `"event":"receive"`); n != 1 {
		t.Errorf("the moved file holds %d receive events, want the first message's only:\n%s", n, moved)
	}
	if log, _ := os.ReadFile(d.log); strings.Contains(string(log), "reload") {
		t.Errorf("the daemon reloaded:\n%s", grepLines(string(log), "reload"))
	}
}

// OPS-1/SMTP-6 (rt29c F7): a mailbox.maildir umbra cannot create (or
// write) is refused by serve at its line before anything starts, as a
// data directory, tracking log directory or pickup directory it cannot
// make is — not accepted, with every local delivery then deferred
// "maildir write failed" and the cause in the log alone. A reload that
// moves the Maildir there is refused alike, the running one kept.
func TestUnwritableMaildirRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.160")
	cfg := filepath.Join(dir, "hub.yaml")
	const bad = "/proc/umbra-maildir-refused"
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.maildir.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox:
  maildir: %s
%s`, filepath.Join(dir, "data"), bad, submitConnector("in", listen))), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, umbraBin, "serve", "-c", cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() <= 0 {
		t.Fatalf("serve with maildir %s: %v, want a refusal\n%s", bad, err, out)
	}
	if want := cfg + ":4: mailbox.maildir " + bad; !strings.Contains(string(out), want) {
		t.Errorf("serve's refusal does not name the setting at its line (%q):\n%s", want, out)
	}
	if !strings.Contains(string(out), "ReadWritePaths") {
		t.Errorf("serve's refusal does not say what the systemd unit needs:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("a refused start left the data directory behind (%v)", err)
	}

	// A running daemon: a reload to that Maildir fails, the running one
	// stays in force.
	os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "maildir: "+bad, "maildir: maildir", 1)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "maildir: maildir", "maildir: "+bad, 1)), 0o600)
	d.hup()
	waitCond(t, "the reload refused", 30*time.Second, func() bool {
		log := string(mustRead(t, d.log))
		return strings.Contains(log, "reload failed") && strings.Contains(log, "mailbox.maildir "+bad)
	})
}

// SMTP-6 (rt29c F7): a Maildir write that fails while umbra runs (the
// tree replaced by a file here) is deferred with the system's words for
// the cause, and message list and message show tell the operator.
func TestMaildirDeferralShowsItsCause(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.160")
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.maildir.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, filepath.Join(dir, "data"), submitConnector("in", listen))), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	root := filepath.Join(dir, "data", "maildir")
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root, []byte("not a tree"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"alice@example.test"}, strings.NewReader("Subject: cause\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	const want = "451 4.3.0 maildir write failed: not a directory"
	var out string
	waitCond(t, "the deferral with its cause", 30*time.Second, func() bool {
		out, _ = cli(t, cfg, "message", "list")
		return strings.Contains(out, want)
	})
	var ms []struct{ ID string }
	js, _ := cli(t, cfg, "message", "list", "--json")
	if json.Unmarshal([]byte(js), &ms) != nil || len(ms) != 1 {
		t.Fatalf("message list --json: %q", js)
	}
	if show, _ := cli(t, cfg, "message", "show", ms[0].ID); !strings.Contains(show, want) {
		t.Errorf("message show does not give the cause:\n%s", show)
	}
}
