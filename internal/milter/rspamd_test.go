package milter

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/resolver/dnstest"
	"umbra/internal/testsupport"
)

// startRspamd runs a real rspamd (Debian's package) in milter mode on
// loopback: a proxy worker with milter = yes in front of a normal
// worker, with a minimal configuration in t.TempDir(). Every module
// that would use the network or Redis is left unconfigured (rspamd
// disables those), maps are local, and its only DNS server is one this
// test runs on loopback. It returns the milter address.
func startRspamd(t *testing.T) string {
	t.Helper()
	addr, _ := startRspamdLog(t)
	return addr
}

// startRspamdLog is startRspamd, also returning a reader of the end of
// rspamd's log.
func startRspamdLog(t *testing.T) (string, func() string) {
	t.Helper()
	bin, err := exec.LookPath("rspamd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rspamd is not installed (.ci/run installs it)")
		}
		t.Skip("rspamd is not installed")
	}
	dns := dnstest.Start(t)
	dir := t.TempDir()
	for _, d := range []string{"db", "run", "log", "local"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	// A short public suffix list: rspamd's own takes half a minute to
	// compile at every start.
	os.WriteFile(filepath.Join(dir, "tld.dat"), []byte("test\nexample\ncom\nnet\norg\n"), 0o644)
	proxy, normal := testsupport.FreeAddr(t, "127.0.0.1"), testsupport.FreeAddr(t, "127.0.0.1") // rspamd binds them
	conf := fmt.Sprintf(`lua = "$RULESDIR/rspamd.lua";
.include "$CONFDIR/metrics.conf"
.include "$CONFDIR/actions.conf"
.include "$CONFDIR/groups.conf"
modules { path = "$PLUGINSDIR"; }
options {
  filters = "";
  disable_hyperscan = true;
  dns { nameserver = ["%[1]s"]; timeout = 1s; retransmits = 1; }
  cache_file = "%[2]s/db/symbols.cache";
  control_socket = "%[2]s/run/rspamd.sock mode=0600";
  hs_cache_dir = "%[2]s/db/";
  tempdir = "%[2]s/run";
  url_tld = "%[2]s/tld.dat";
  local_addrs = [];
}
logging { type = "file"; filename = "%[2]s/log/rspamd.log"; level = "info"; }
worker "normal" { bind_socket = "%[4]s"; count = 1; }
worker "rspamd_proxy" {
  bind_socket = "%[3]s"; milter = yes; timeout = 120s; count = 1;
  upstream "local" { default = yes; hosts = "%[4]s"; }
  reject_message = "Spam message rejected";
}
milter_headers {
  skip_local = false;
  skip_authenticated = false;
  use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id"];
}
`, dns.Addr, dir, proxy, normal)
	confFile := filepath.Join(dir, "rspamd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", "-c", confFile, "--var", "DBDIR=" + dir + "/db", "--var", "RUNDIR=" + dir + "/run", "--var", "LOGDIR=" + dir + "/log",
		// The host's local.d and override.d (Redis servers, remote maps)
		// must not reach the test's rspamd.
		"--var", "LOCAL_CONFDIR=" + dir + "/local"}
	if os.Getuid() == 0 {
		args = append(args, "-i") // rspamd refuses root workers without it
	}
	cmd := exec.Command(bin, args...)
	out, _ := os.Create(filepath.Join(dir, "log", "stdout"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		out.Close()
	})
	logTail := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "log", "rspamd.log"))
		s, _ := os.ReadFile(filepath.Join(dir, "log", "stdout"))
		all := string(s) + string(b)
		return all[max(0, len(all)-3000):]
	}
	// rspamd takes seconds to load its rules: wait for both workers,
	// bounded.
	for i := 0; ; i++ {
		if up(proxy) && up(normal) {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("rspamd exited: %v\n%s", err, logTail())
		case <-time.After(200 * time.Millisecond):
		}
		if i > 600 {
			t.Fatalf("rspamd did not listen on %s and %s within 120 s\n%s", proxy, normal, logTail())
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rspamd log:\n%s", logTail())
		}
	})
	return "inet:" + proxy, logTail
}

func up(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Interop with rspamd as a milter: the GTUBE test message is refused
// with rspamd's reply, and a clean message is queued with rspamd's
// headers.
func TestRspamdMilter(t *testing.T) {
	addr, logTail := startRspamdLog(t)
	q := &fakeQueue{}
	mta := startMTA(t, q, milterConf(addr, ", command_timeout: 30s, eom_timeout: 60s"))
	d := dial(t, mta)
	d.cmd("EHLO client.test", "250")

	gtube := "From: a@sender.test\r\nTo: u@example.test\r\nSubject: test\r\nMessage-ID: <gtube@sender.test>\r\n\r\n" +
		"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"
	got := d.send("a@sender.test", []string{"u@example.test"}, gtube)
	if !(strings.HasPrefix(got, "554 5.7.1") || strings.HasPrefix(got, "550 5.7.1")) || !strings.Contains(strings.ToLower(got), "gtube") {
		t.Fatalf("GTUBE got %q, want rspamd's 554/550 refusal", got)
	}
	if q.count() != 0 {
		t.Fatal("the GTUBE message was queued")
	}

	clean := "From: Alice <a@sender.test>\r\nTo: u@example.test\r\nSubject: lunch\r\nMessage-ID: <lunch@sender.test>\r\n" +
		"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nShall we have lunch at noon?\r\n"
	if got := d.send("a@sender.test", []string{"u@example.test"}, clean); !strings.HasPrefix(got, "250") {
		t.Fatalf("clean message got %q", got)
	}
	m, body := q.last(t)
	for _, h := range []string{"X-Spamd-Result: default: False", "X-Rspamd-Server: ", "X-Rspamd-Queue-Id: " + m.ID.String() + "\r\n"} {
		if !strings.Contains(body, "\r\n"+h) {
			t.Errorf("queued message lacks %q:\n%s", h, body)
		}
	}
	if !strings.HasSuffix(body, "\r\n\r\nShall we have lunch at noon?\r\n") {
		t.Errorf("body changed:\n%s", body)
	}

	// A From with a blank before its colon (obsolete but valid syntax,
	// stored and delivered as the From) reaches rspamd as the From: it
	// scans the message umbra delivers, not one without a From (rt57 M1).
	spaced := "From : Alice <a@sender.test>\r\nTo: u@example.test\r\nSubject: lunch\r\nMessage-ID: <spaced@sender.test>\r\n" +
		"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nShall we have lunch at noon?\r\n"
	if got := d.send("a@sender.test", []string{"u@example.test"}, spaced); !strings.HasPrefix(got, "250") {
		t.Fatalf("message with \"From :\" got %q", got)
	}
	_, body = q.last(t)
	if !strings.Contains(body, "X-Spamd-Result: ") || strings.Contains(body, "MISSING_FROM") {
		t.Errorf("rspamd did not see the From of\n%s", body)
	}
	d.cmd("QUIT", "221")

	// Each message had a connection of its own, ended with QUIT and a
	// wait for rspamd's close: rspamd met no reset at any of them.
	time.Sleep(200 * time.Millisecond)
	if l := strings.ToLower(logTail()); strings.Contains(l, "reset by peer") || strings.Contains(l, "broken pipe") {
		t.Errorf("rspamd met a reset:\n%s", l)
	}
}
