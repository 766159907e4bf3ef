package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// cliErr runs the umbra binary and returns its exit code and standard error.
func cliErr(t testing.TB, cfg string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// A queue named ahead of time must be one the configuration can produce:
// a typo of a send connector or database, or a malformed domain, exits 3
// with the valid names and creates no suspended queue; a well-formed
// domain may be held before its first message. Filters with unknown
// values and unknown subcommands are refused too, and the track table
// names the queue an action was on.
func TestCLIQueueNamesThatCannotExist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	// A second connector delivers by MX: mx: queues can exist.
	raw, _ := os.ReadFile(cfg)
	withMX := strings.Replace(string(raw), "mailbox:\n", `  - name: direct
    address_spaces: [{domain: "mx.example", cost: 1}]
    tls: none
mailbox:
`, 1)
	if err := os.WriteFile(cfg, []byte(withMX), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)

	for _, tc := range []struct{ name, valid string }{
		{"smarthost:deadd", "smarthost:sink"},
		{"mailbox:nosuchdb", "mailbox:local"},
		{"mx:typo..example", "mx:DOMAIN"},
		{"mx:exa_mple.org", "mx:DOMAIN"},
		{"redirect:host name:25", "redirect:HOST"},
		{"site:nowhere", ""},
		{"nosuch:queue", ""},
	} {
		code, stderr := cliErr(t, cfg, "queue", "suspend", tc.name)
		if code != exitNotFound || !strings.Contains(stderr, "valid:") || !strings.Contains(stderr, tc.valid) {
			t.Errorf("queue suspend %s: exit %d %q; want %d naming %s", tc.name, code, stderr, exitNotFound, tc.valid)
		}
	}
	for _, name := range []string{"smarthost:sink", "mailbox:local", "mx:later.example.org", "redirect:127.0.0.9:2528"} {
		if code, stderr := cliErr(t, cfg, "queue", "suspend", name); code != 0 {
			t.Errorf("queue suspend %s: exit %d %s", name, code, stderr)
		}
	}
	out, _ := cli(t, cfg, "queue", "list", "--json")
	var qs []queue.QueueInfo
	json.Unmarshal([]byte(out), &qs)
	for _, q := range qs {
		if strings.Contains(q.Name, "dead") || strings.Contains(q.Name, "nosuch") || strings.Contains(q.Name, "exa_mple") {
			t.Errorf("phantom queue %s", q.Name)
		}
	}
	if len(qs) != 4 {
		t.Errorf("suspended queues: %+v", qs)
	}
	// Filters: unknown status or type exits 3 with the valid ones.
	for _, f := range []string{"status=bogus", "type=bogus"} {
		if code, stderr := cliErr(t, cfg, "queue", "list", "--filter", f); code != exitNotFound || !strings.Contains(stderr, "valid:") {
			t.Errorf("queue list --filter %s: exit %d %q", f, code, stderr)
		}
	}
	if out, code := cli(t, cfg, "queue", "list", "--filter", "status=suspended", "--filter", "type=smtp-mx"); code != 0 ||
		!strings.Contains(out, "mx:later.example.org") || strings.Contains(out, "smarthost:sink") {
		t.Errorf("queue list by status and type: exit %d\n%s", code, out)
	}
	// Unknown subcommands of every group: a usage error with a suggestion.
	for _, args := range [][]string{{"queue", "frobnicate"}, {"queue", "suspnd", "x"}, {"message", "frob"},
		{"route", "frob"}, {"shadow", "frob"}, {"dumpster", "frob"}, {"config", "chek"}} {
		code, stderr := cliErr(t, cfg, args...)
		if code != exitUsage || !strings.Contains(stderr, "unknown command") {
			t.Errorf("%v: exit %d %q; want %d", args, code, stderr, exitUsage)
		}
	}
	if _, stderr := cliErr(t, cfg, "queue", "suspnd", "x"); !strings.Contains(stderr, "did you mean suspend") {
		t.Errorf("no suggestion: %q", stderr)
	}
	// A bad time names the flag it was given to, not another.
	for _, args := range [][]string{{"message", "list", "--older-than", "garbage"}, {"message", "suspend", "--older-than", "garbage"},
		{"track", "--until", "garbage"}} {
		code, stderr := cliErr(t, cfg, args...)
		if code != exitUsage || !strings.Contains(stderr, args[len(args)-2]) || strings.Contains(stderr, "--since") {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
	// The track table names the queue of a queue action.
	d.kill()
	out, code := cli(t, cfg, "track", "--event", "admin")
	if code != 0 || !strings.Contains(out, "queue suspend mx:later.example.org by uid=") || !strings.Contains(out, "UTC") && !strings.Contains(out, "+") {
		t.Errorf("track table:\n%s", out)
	}
	out, _ = cli(t, cfg, "track", "--json", "--event", "admin")
	// Another configuration (here the embedded default) has no log: an
	// error naming the path and the configuration, not an empty result.
	tr := exec.Command(umbraBin, "track", "--event", "admin")
	tr.Dir, tr.Env = t.TempDir(), append(os.Environ(), "UMBRA_CONFIG=")
	if b, err := tr.CombinedOutput(); err == nil || !strings.Contains(string(b), "no message tracking log at") ||
		!strings.Contains(string(b), "configuration") {
		t.Errorf("track with a configuration without a log: %v\n%s", err, b)
	}
	var es []tracking.Entry
	json.Unmarshal([]byte(out), &es)
	// Four actions done; each refused name is audited as refused
	// (rt24c F15), never as done.
	done := 0
	for _, e := range es {
		switch {
		case e.Reply == "ok" || strings.HasPrefix(e.Reply, "ok:"):
			done++
		case !strings.HasPrefix(e.Reply, "refused: "):
			t.Errorf("audit line %+v: neither done nor refused", e)
		}
	}
	if done != 4 || len(es) == done {
		t.Errorf("audited %d queue actions done, want 4, and the refused ones as refused:\n%s", done, out)
	}
}

// A plain `go build` (no -ldflags) reports the commit the toolchain
// stamped, not "dev".
func TestBuildVersion(t *testing.T) {
	stamped := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "5fabf98c0ffee0123456789abcdef0123456789a"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	for _, tc := range []struct {
		set  string
		info func() (*debug.BuildInfo, bool)
		want string
	}{
		{"v1.2.3", stamped, "v1.2.3"},
		{"dev", stamped, "5fabf98c0ffe-dirty"},
		{"", stamped, "5fabf98c0ffe-dirty"},
		{"dev", func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}}, true }, "v0.9.0"},
		{"dev", func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true }, "dev"},
		{"dev", func() (*debug.BuildInfo, bool) { return nil, false }, "dev"},
	} {
		if got := buildVersion(tc.set, tc.info); got != tc.want {
			t.Errorf("buildVersion(%q) = %q, want %q", tc.set, got, tc.want)
		}
	}
}

// config check loads every file the configuration names with serve's
// code, the web console's included: a missing or malformed console
// credentials file fails the check (exit 2, naming the file) as it fails
// serve, instead of a check that passes and a daemon that dies at start.
func TestConfigCheckLoadsConsoleFiles(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	cert, key := writeSelfSigned(t, dir)
	creds := filepath.Join(dir, "console-users")
	raw, _ := os.ReadFile(cfg)
	withConsole := string(raw) + fmt.Sprintf("console:\n  listen: %q\n  cert_file: %s\n  key_file: %s\n  credentials_file: %s\n",
		freeAddr(t, "127.0.0.1"), cert, key, creds)
	if err := os.WriteFile(cfg, []byte(withConsole), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func() (int, string) {
		cmd := exec.Command(umbraBin, "config", "check", cfg)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		return 0, string(out)
	}
	if code, out := check(); code != exitConfig || !strings.Contains(out, creds) {
		t.Errorf("console credentials file missing: exit %d\n%s", code, out)
	}
	os.WriteFile(creds, []byte("this is not a credentials line\n"), 0o600)
	// At the line of the setting that names it, like every file (rt38 F8).
	if code, out := check(); code != exitConfig || !regexp.MustCompile(regexp.QuoteMeta(cfg)+`:\d+: console\.credentials_file `+regexp.QuoteMeta(creds)+`:1: `).MatchString(out) {
		t.Errorf("console credentials file malformed: exit %d\n%s", code, out)
	}
	// serve agrees with the check.
	hostMarksOff(t, cfg)
	serve := exec.Command(umbraBin, "serve", "--config", cfg)
	done := make(chan error, 1)
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("serve started with a malformed console credentials file")
		}
	case <-time.After(20 * time.Second):
		serve.Process.Kill()
		<-done
		t.Error("serve runs with a malformed console credentials file the check refused")
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("console-pass"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("ops:"+string(hash)+"\n"), 0o600)
	if code, out := check(); code != 0 {
		t.Errorf("valid console files: exit %d\n%s", code, out)
	}
}

// The console's topology map shows the topology in force: one a SIGHUP
// reload adds appears on the map, as routing applies it.
func TestConsoleMapFollowsReload(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr, consoleAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	cert, key := writeSelfSigned(t, dir)
	creds := filepath.Join(dir, "console-users")
	hash, _ := bcrypt.GenerateFromPassword([]byte("console-pass"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("ops:"+string(hash)+"\n"), 0o600)
	raw, _ := os.ReadFile(cfg)
	base := string(raw) + fmt.Sprintf("console:\n  listen: %q\n  cert_file: %s\n  key_file: %s\n  credentials_file: %s\n",
		consoleAddr, cert, key, creds)
	os.WriteFile(cfg, []byte(base), 0o600)
	d := startUmbra(t, cfg, listen)

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	baseURL := "https://" + consoleAddr
	get := func(path string) string {
		res, err := client.Get(baseURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	var page string
	waitCond(t, "the console listening", 30*time.Second, func() bool {
		res, err := client.Get(baseURL + "/login")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page = string(b)
		return true
	})
	tok := regexp.MustCompile(`name="login_token" value="([^"]+)"`).FindStringSubmatch(page)
	if tok == nil {
		t.Fatalf("login page:\n%s", page)
	}
	req, _ := http.NewRequest("POST", baseURL+"/login", strings.NewReader(url.Values{"login_token": {tok[1]},
		"user": {"ops"}, "password": {"console-pass"}, "next": {"/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", baseURL)
	res, err := client.Do(req)
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", err, res)
	}
	res.Body.Close()
	if m := get("/map"); strings.Contains(m, "reloaded-site") {
		t.Fatalf("map before the topology exists:\n%s", m)
	}

	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites:
  - {name: reloaded-site, subnets: [127.0.0.0/8], hub_site: true}
servers:
  - {name: hub.e2e.test, role: hub, site: reloaded-site, address: %q}
`, listen)), 0o600)
	os.WriteFile(cfg, []byte("topology: "+topo+"\n"+base), 0o600)
	d.hup()
	waitCond(t, "the map showing the reloaded topology", 30*time.Second, func() bool {
		return strings.Contains(get("/map"), "reloaded-site")
	})
	// The reload logs its end after it applied the topology the map
	// already shows: wait for the line (10 s at most).
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ = os.ReadFile(d.log)
		if strings.Contains(string(b), "configuration reloaded") || strings.Contains(string(b), "reloaded;") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("no reload in the log:\n%s", b)
			break
		}
	}
}

// One vocabulary: messages waiting for a retry after a deferral are
// "retry" in the metrics as in message list and queue list.
func TestMetricsSayRetryAsTheCLIDoes(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down
	metricsAddr := withMetrics(t, cfg)
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedule: [1h]") // "retry" stays "retry" while it is read
	startUmbra(t, cfg, listen)
	if acked := sendMany(listen, "vocab", 2, 1, nil); len(acked) != 2 {
		t.Fatalf("acknowledged %d", len(acked))
	}
	waitCond(t, "two messages waiting for a retry", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json", "--state", "retry")
		return strings.Count(out, `"id"`) == 2
	})
	var scraped string
	waitCond(t, "the metrics saying retry", 10*time.Second, func() bool {
		var err error
		if scraped, err = scrapeMetrics(metricsAddr); err != nil {
			return false
		}
		return strings.Contains(scraped, `umbra_queue_messages{queue_type="smtp-smart-host",state="retry"} 2`) &&
			strings.Contains(scraped, `umbra_queue_messages{queue_type="smtp-smart-host",state="ready"} 0`)
	})
}

// The daemon's log line of a recipient's event says how long the
// message took (delay), its size and the number of the attempt it is
// of, 1-based — after a deferral message show's count (rt18a F5: the
// first attempt's defer line said attempts=0 while message show said
// 1); a send after k deferrals says k+1 (rt20d-F5: it said k).
func TestLogDeliveryDelay(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down
	d := startUmbra(t, cfg, listen)
	if acked := sendMany(listen, "delay", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("acknowledged %d", len(acked))
	}
	line := func(event string) string {
		b, _ := os.ReadFile(d.log)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "event="+event+" ") && strings.Contains(l, "rcpt=") {
				return l
			}
		}
		return ""
	}
	waitCond(t, "a defer line", 30*time.Second, func() bool { return line("defer") != "" })
	defers := func() int { b, _ := os.ReadFile(d.log); return strings.Count(string(b), "event=defer ") }
	if id := regexp.MustCompile(` msg_id=(\S+) `).FindStringSubmatch(line("defer")); id != nil {
		// A retry (1s) may come while the command runs: message show's
		// count lies between the defer lines before and after it.
		before := defers()
		out, _ := cli(t, cfg, "message", "show", id[1])
		after := defers()
		n := -1
		if m := regexp.MustCompile(`(?m)^attempts: +(\d+)`).FindStringSubmatch(out); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if n < before || n > after {
			t.Errorf("message show says attempts %d, the log has %d to %d defer lines:\n%s", n, before, after, out)
		}
	} else {
		t.Errorf("defer line without msg_id: %s", line("defer"))
	}
	startRecorder(t, sinkAddr)
	waitCond(t, "a send line", 30*time.Second, func() bool { return line("send") != "" })
	sendAttempts := fmt.Sprintf("attempts=%d", defers()+1) // one message: its deferrals, then its send
	for ev, attempts := range map[string]string{"defer": "attempts=1", "send": sendAttempts} {
		l := line(ev)
		if !regexp.MustCompile(` delay=[0-9.]+m?s `).MatchString(l) || !regexp.MustCompile(` size=[1-9][0-9]* `).MatchString(l) ||
			!strings.Contains(l, " "+attempts) {
			t.Errorf("%s line without delay, size or %s:\n%s", ev, attempts, l)
		}
	}
}

// A reload that changes a setting needing a restart names the setting.
func TestReloadNamesRestartSetting(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	withMetrics(t, cfg)
	d.hup()
	waitCond(t, "the reload naming server.metrics_listen", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "apply only after a restart") && strings.Contains(string(b), "server.metrics_listen")
	})
	if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "server.name") || strings.Contains(string(b), "server.data_dir") {
		t.Errorf("unchanged settings named:\n%s", b)
	}
}

// After a restart, queue list shows a queue's last error from the stored
// messages, as message list does, until the queue is tried again.
func TestQueueLastErrorSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedule: [1h]")
	d := startUmbra(t, cfg, listen)
	if acked := sendMany(listen, "lasterr", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("acknowledged %d", len(acked))
	}
	lastErr := func() string {
		out, _ := cli(t, cfg, "queue", "list", "--json")
		var qs []queue.QueueInfo
		json.Unmarshal([]byte(out), &qs)
		if len(qs) != 1 {
			return ""
		}
		return qs[0].LastError
	}
	waitCond(t, "a last error", 30*time.Second, func() bool { return strings.Contains(lastErr(), "connect") })
	// IN/MIN counts the message that entered the queue in the last
	// minute at once, not after the calendar minute ends.
	out, _ := cli(t, cfg, "queue", "list", "--json")
	var qs []queue.QueueInfo
	if json.Unmarshal([]byte(out), &qs); len(qs) != 1 || qs[0].IncomingRate != 1 {
		t.Errorf("IN/MIN of the message that just entered: %s", out)
	}
	d.kill()
	startUmbra(t, cfg, listen)
	if e := lastErr(); !strings.Contains(e, "451") || !strings.Contains(e, "connect") {
		t.Errorf("last error after a restart: %q", e)
	}
	if out, _ := cli(t, cfg, "queue", "list"); !strings.Contains(out, "451") {
		t.Errorf("queue list after a restart:\n%s", out)
	}
}

// With a topology, config check warns about a configured send connector
// that matches no topology send connector: routing never uses it.
func TestConfigCheckWarnsUnusedSendConnectors(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites:
  - {name: a, subnets: [127.0.0.0/8], hub_site: true}
servers:
  - {name: hub.e2e.test, role: hub, site: a, address: %q}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub.e2e.test], smart_hosts: [%q]}
`, listen, sinkAddr)), 0o600)
	raw, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte("topology: "+topo+"\n"+string(raw)), 0o600)
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `warning: send connector "sink" is not used`) {
		t.Errorf("config check: %v\n%s", err, out)
	}
	os.WriteFile(cfg, []byte("topology: "+topo+"\n"+strings.Replace(string(raw), "- name: sink", "- name: out", 1)), 0o600)
	// It is used; the address spaces it writes are not (the topology's
	// decide: rt17f-F2), and that is said.
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil || strings.Contains(string(out), "is not used:") ||
		!strings.Contains(string(out), `send connector "out": its address_spaces are not used`) {
		t.Errorf("a connector giving settings to the topology's: %v\n%s", err, out)
	}
}
