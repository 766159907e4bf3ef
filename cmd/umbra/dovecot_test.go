package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startDovecot runs Dovecot's LMTP server on addr with a throwaway
// configuration under dir: the users listed exist, mail goes to
// dir/mail/DOMAIN/USER/Maildir. It returns the mail root.
func startDovecot(t *testing.T, dir, addr string, users ...string) string {
	t.Helper()
	return startDovecotWith(t, dir, addr, "", users...)
}

// startDovecotWith is startDovecot with extra configuration appended.
func startDovecotWith(t *testing.T, dir, addr, extra string, users ...string) string {
	t.Helper()
	bin := needTool(t, "dovecot")
	if _, err := os.Stat("/usr/lib/dovecot/lmtp"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dovecot-lmtpd is missing; .ci/run must install it")
		}
		t.Skip("dovecot-lmtpd not installed")
	}
	// Dovecot runs its helpers as an unprivileged user and refuses to
	// store mail as root: as root, mail belongs to "mail".
	me, _ := user.Current()
	internal, uid, gid := me.Username, os.Getuid(), os.Getgid()
	if uid == 0 {
		mu, err := user.Lookup("mail")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ = strconv.Atoi(mu.Uid)
		gid, _ = strconv.Atoi(mu.Gid)
	}
	mail := filepath.Join(dir, "mail")
	for _, d := range []string{"run", "state", "mail"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.Chown(mail, uid, gid)
	if os.Getuid() == 0 {
		// The test's temporary directories are 0700: let "mail" through.
		for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
	}
	var passwd strings.Builder
	for _, u := range users {
		local, domain, _ := strings.Cut(u, "@")
		fmt.Fprintf(&passwd, "%s::%d:%d::%s::\n", u, uid, gid, filepath.Join(mail, domain, local))
	}
	os.WriteFile(filepath.Join(dir, "users"), []byte(passwd.String()), 0o644)
	host, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
instance_name = umbra-test-%[4]s
protocols = lmtp
ssl = no
listen = %[2]s
default_internal_user = %[5]s
default_internal_group = %[6]s
default_login_user = %[5]s
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/users
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/users
}
service lmtp {
  inet_listener lmtp {
    address = %[2]s
    port = %[3]s
  }
  unix_listener lmtp {
    mode = 0600
  }
}
service anvil {
  chroot =
}
service stats {
  chroot =
}
`, dir, host, port, port, internal, groupName(t)) + extra
	cfg := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(cfg, []byte(conf), 0o644)
	cmd := exec.Command(bin, "-F", "-c", cfg)
	out, _ := os.Create(filepath.Join(dir, "dovecot.out"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := dialTCP(addr); err == nil {
			c.Close()
			return mail
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			o, _ := os.ReadFile(filepath.Join(dir, "dovecot.out"))
			t.Fatalf("dovecot did not listen on %s\n%s\n%s", addr, o, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func groupName(t *testing.T) string {
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	return g.Name
}

// dovecotCount counts the messages in a Dovecot user's Maildir.
func dovecotCount(mail, addr string) int {
	local, domain, _ := strings.Cut(addr, "@")
	n := 0
	for _, sub := range []string{"new", "cur"} {
		files, _ := os.ReadDir(filepath.Join(mail, domain, local, "Maildir", sub))
		n += len(files)
	}
	return n
}

// Interop with a real mailbox server: umbra delivers to Dovecot over
// LMTP, honouring its per-recipient replies; the "mailbox database" then
// fails over to an empty store, and a redelivery request brings every
// message back, once.
func TestInteropDovecotLMTPRedelivery(t *testing.T) {
	dir := t.TempDir()
	lmtpAddr, listen := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	mail := startDovecot(t, filepath.Join(dir, "dovecot"), lmtpAddr, "bob@example.test", "carol@example.test")
	// Dovecot refuses unknown users at LMTP
	cfg := lmtpHub(t, dir, listen, fmt.Sprintf("lmtp: %q, database: MDB01", lmtpAddr))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	const n = 5
	for i := 0; i < n; i++ {
		rcpts := []string{"bob@example.test", "carol@example.test"}
		if i == 0 {
			rcpts = append(rcpts, "nobody@example.test") // Dovecot has no such user
		}
		msg := fmt.Sprintf("Message-ID: <lmtp-%d@example.test>\r\nSubject: lmtp %d\r\n\r\nhello", i, i)
		if r := rawSend(t, listen, "s@example.test", rcpts, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("message %d: %q", i, r)
		}
	}
	waitCond(t, "delivery to Dovecot", 30*time.Second, func() bool {
		return dovecotCount(mail, "bob@example.test") == n && dovecotCount(mail, "carol@example.test") == n
	})
	// The unknown user got Dovecot's own 550 5.1.1, per recipient, and a
	// bounce; the others of that message were delivered.
	waitCond(t, "the bounce for the unknown user", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "track", "--json", "--recipient", "nobody@example.test")
		return strings.Contains(out, `"event": "fail"`) && strings.Contains(out, "550 5.1.1")
	})
	out, code := cli(t, cfg, "queue", "list")
	if code != 0 || !strings.Contains(out, "dumpster:MDB01") {
		t.Errorf("queue list does not show the database's dumpster:\n%s", out)
	}

	// Failover to a copy that lags behind: the store is gone.
	os.RemoveAll(filepath.Join(mail, "example.test"))
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	out, code = cli(t, cfg, "dumpster", "resubmit", "--database", "MDB01", "--since", since, "--request-id", "dag-failover-7")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("resubmitted %d messages", n)) {
		d.dumpLog()
		t.Fatalf("resubmit (exit %d): %s", code, out)
	}
	waitCond(t, "redelivery to Dovecot", 30*time.Second, func() bool {
		return dovecotCount(mail, "bob@example.test") == n && dovecotCount(mail, "carol@example.test") == n
	})
	if out, code := cli(t, cfg, "dumpster", "resubmit", "--database", "MDB01", "--since", since, "--request-id", "dag-failover-7"); code != 0 || !strings.Contains(out, "already carried out") {
		t.Fatalf("repeated request (exit %d): %s", code, out)
	}
	time.Sleep(time.Second)
	if b, c := dovecotCount(mail, "bob@example.test"), dovecotCount(mail, "carol@example.test"); b != n || c != n {
		t.Fatalf("after the repeated request: bob %d, carol %d messages, want %d each", b, c, n)
	}
	out, _ = cli(t, cfg, "dumpster", "list")
	if !strings.Contains(out, "MDB01") {
		t.Errorf("dumpster list:\n%s", out)
	}
}

// Mailbox databases of the topology: a hub delivers each recipient to the
// mailbox server of its database over LMTP, one queue per database
// (a message for two databases splits); each database has its own
// dumpster, and a redelivery request brings back only its database's
// mail.
func TestTopologyMailboxDatabasesOverLMTP(t *testing.T) {
	dir := t.TempDir()
	lmtpAddr, listen := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	mail := startDovecot(t, filepath.Join(dir, "dovecot"), lmtpAddr, "bob@example.test", "carol@example.test")
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites: [{name: s1}]
servers:
  - {name: hub1.example.test, role: hub, site: s1, address: %q}
  - {name: mbx1.example.test, role: mailbox, site: s1, address: %q}
mailbox_databases:
  - {name: DB-A, server: mbx1.example.test}
  - {name: DB-B, server: mbx1.example.test}
recipients:
  - {match: bob@example.test, database: DB-A}
  - {match: carol@example.test, database: DB-B}
`, listen, lmtpAddr)), 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1.example.test, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [1s], retry_jitter: 0.1}
accepted_domains: [{domain: example.test, type: internal_relay}]
%s`, filepath.Join(dir, "data"), topo, submitConnector("in", listen, "max_acknowledgement_delay: 0s"))), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if _, code := cli(t, cfg, "queue", "suspend", "mailbox:DB-B"); code != 0 {
		t.Fatal("suspend mailbox:DB-B")
	}
	for i := 0; i < 2; i++ {
		msg := fmt.Sprintf("Message-ID: <db-%d@example.test>\r\nSubject: two databases %d\r\n\r\nhello", i, i)
		if r := rawSend(t, listen, "s@example.test", []string{"bob@example.test", "carol@example.test"}, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("message %d: %q", i, r)
		}
	}
	waitCond(t, "DB-A's mail", 30*time.Second, func() bool { return dovecotCount(mail, "bob@example.test") == 2 })
	out, _ := cli(t, cfg, "queue", "list", "--json")
	if !strings.Contains(out, `"name": "mailbox:DB-B"`) || !strings.Contains(out, `"status": "suspended"`) || dovecotCount(mail, "carol@example.test") != 0 {
		t.Fatalf("DB-B's queue while suspended:\n%s", out)
	}
	cli(t, cfg, "queue", "resume", "mailbox:DB-B")
	waitCond(t, "DB-B's mail", 30*time.Second, func() bool { return dovecotCount(mail, "carol@example.test") == 2 })
	out, _ = cli(t, cfg, "dumpster", "list")
	if !strings.Contains(out, "DB-A") || !strings.Contains(out, "DB-B") {
		t.Fatalf("dumpster list:\n%s", out)
	}

	os.RemoveAll(filepath.Join(mail, "example.test", "carol"))
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if out, code := cli(t, cfg, "dumpster", "resubmit", "--database", "DB-B", "--since", since, "--request-id", "db-b-1"); code != 0 || !strings.Contains(out, "resubmitted 2 messages") {
		t.Fatalf("resubmit DB-B (exit %d): %s", code, out)
	}
	waitCond(t, "DB-B's mail again", 30*time.Second, func() bool { return dovecotCount(mail, "carol@example.test") == 2 })
	time.Sleep(time.Second)
	if n := dovecotCount(mail, "bob@example.test"); n != 2 {
		t.Fatalf("bob (DB-A) has %d messages after DB-B's redelivery, want 2", n)
	}
}
