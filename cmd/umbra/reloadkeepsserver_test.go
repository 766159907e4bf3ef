package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rr34 frontrt33: a reload builds what it builds from the running server
// section — but message_authentication.authserv_id (not set) is derived
// from server.name at load, from the file's: a reload that renames the
// server (server.name applies only at a restart, and the reload says so)
// had the receive side write Authentication-Results under the new name
// while its Received fields, greeting and front door kept the old one.
func TestReloadRenamingServerKeepsAuthservID(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.215:15301"
	text := umbraTestHub(dir, "transport:\n  retry_schedule: [1h]\n", listen, "submit, relay",
		"max_acknowledgement_delay: 0s\nmessage_authentication:\n  dkim: header", "out", "smart_hosts: [\"127.0.0.215:15302\"]\ntls: none", "")
	cfg := writeConfig(t, dir, text)
	d := startUmbra(t, cfg, listen)
	send := func(to string) string {
		if r := rawSend(t, listen, "a@client.test", []string{to + "@umbra.test"}, "From: <a@client.test>\r\nSubject: t\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
			t.Fatalf("send: %q", r)
		}
		var files []string
		waitCond(t, "delivery to "+to, 20*time.Second, func() bool {
			files, _ = filepath.Glob(filepath.Join(dir, "data", "maildir", "umbra.test", to, "new", "*"))
			return len(files) == 1
		})
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := send("before")
	if !strings.Contains(before, "Authentication-Results: hub.umbra.test;") {
		t.Fatalf("before the reload, no Authentication-Results of hub.umbra.test:\n%s", before)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(text, "name: hub.umbra.test", "name: renamed.umbra.test", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return reloadOutcome(string(b))
	})
	if l := logLinesWith(d, "apply only after a restart"); len(l) != 1 || !strings.Contains(l[0], "server.name") {
		d.dumpLog()
		t.Fatalf("the reload that renamed the server: %q; want it to name server.name as needing a restart", l)
	}
	after := send("after")
	if !strings.Contains(after, "by hub.umbra.test") {
		t.Fatalf("the Received field after the reload does not name the running server:\n%s", after)
	}
	if strings.Contains(after, "renamed.umbra.test") || !strings.Contains(after, "Authentication-Results: hub.umbra.test;") {
		t.Errorf("after a reload whose server.name applies only at a restart, the message names the file's new name (half applied); want hub.umbra.test throughout:\n%s", after)
	}
}

// reloadOutcome reports whether log holds a reload's last line: failed,
// applied, or applied with settings left to a restart. "reloaded" alone
// matches "receive connectors reloaded", which comes before the last
// line: a test that read the log then missed the restart note.
func reloadOutcome(log string) bool {
	return strings.Contains(log, "reload failed") || strings.Contains(log, "configuration reloaded") ||
		strings.Contains(log, "reloaded; these settings changed but apply only after a restart")
}

// rr34 frontrt33: a reload that moved server.data_dir (which applies only
// at a restart, and the reload says so) moved a relative mailbox.maildir
// with it at once: mail was delivered into the new data directory's
// Maildir while the queue stayed in the old one (half applied).
func TestReloadMovingDataDirKeepsMaildir(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.215:15305"
	if err := os.MkdirAll(filepath.Join(dir, "data2"), 0o700); err != nil {
		t.Fatal(err)
	}
	text := umbraTestHub(dir, "transport:\n  retry_schedule: [1h]\n", listen, "submit, relay",
		"max_acknowledgement_delay: 0s", "out", "smart_hosts: [\"127.0.0.215:15306\"]\ntls: none", "")
	cfg := writeConfig(t, dir, text)
	d := startUmbra(t, cfg, listen)
	if err := os.WriteFile(cfg, []byte(strings.Replace(text, filepath.Join(dir, "data"), filepath.Join(dir, "data2"), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return reloadOutcome(string(b))
	})
	if l := logLinesWith(d, "apply only after a restart"); len(l) != 1 || !strings.Contains(l[0], "server.data_dir") {
		d.dumpLog()
		t.Fatalf("the reload that moved data_dir: %q; want it to name server.data_dir as needing a restart", l)
	}
	if r := rawSend(t, listen, "a@client.test", []string{"x@umbra.test"}, "Subject: t\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	var old, moved []string
	waitCond(t, "delivery", 20*time.Second, func() bool {
		old, _ = filepath.Glob(filepath.Join(dir, "data", "maildir", "umbra.test", "x", "new", "*"))
		moved, _ = filepath.Glob(filepath.Join(dir, "data2", "maildir", "umbra.test", "x", "new", "*"))
		return len(old)+len(moved) > 0
	})
	if len(moved) > 0 || len(old) != 1 {
		t.Errorf("after a reload whose data_dir applies only at a restart, the message went to %q (old data dir %q); want the running data directory's Maildir", moved, old)
	}
}

// rr34 frontrt33: a reload that renames the server in the file and in
// the topology (server.name applies only at a restart) was refused as
// `server.name "OLD" is not a server of the topology` — a typo of the
// file's, at the line where the file has the new name, which the
// topology does have. The refusal says what it is: the running name,
// which only a restart changes, and what to do.
func TestReloadRenamingServerInTopologySaysRestart(t *testing.T) {
	dir := t.TempDir()
	hubAddr, legacyAddr := "127.0.0.215:15307", "127.0.0.215:15308"
	topo := filepath.Join(dir, "topology.yaml")
	topoText := legacyTopology(hubAddr, legacyAddr, "", "alice@old.test")
	os.WriteFile(topo, []byte(topoText), 0o600)
	cfg := topoHub(t, dir, hubAddr, "1h", topo)
	d := startUmbra(t, cfg, hubAddr)
	os.WriteFile(topo, []byte(strings.ReplaceAll(topoText, "hub.topo.test", "hub2.topo.test")), 0o600)
	editConfig(t, cfg, "name: hub.topo.test", "name: hub2.topo.test")
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return reloadOutcome(string(b))
	})
	failed := logLinesWith(d, "reload failed")
	if len(failed) != 1 || !strings.Contains(failed[0], "hub.topo.test") || !strings.Contains(failed[0], "only at a restart") {
		d.dumpLog()
		t.Fatalf("the reload that renamed the server with its topology: %q; want one refusal naming the running name and that server.name applies only at a restart", failed)
	}
	t.Log(failed[0])
}

// rr34 frontrt33: postmasterLeft's refusal says how the running
// postmaster came to be: "derived from the first authoritative domain"
// was untrue of one derived from an internal_relay domain (a server with
// no authoritative domain), which the operator then looks for in vain.
func TestReloadPostmasterRefusalSaysWhereItCameFrom(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.215:15309"
	text := umbraTestHub(dir, "transport:\n  retry_schedule: [1h]\n", listen, "submit", "", "out", "smart_hosts: [\"127.0.0.215:15310\"]\ntls: none", "")
	text = strings.Replace(text, "type: authoritative\n    recipient_validation: off\n", "type: internal_relay\n", 1)
	cfg := writeConfig(t, dir, text)
	d := startUmbra(t, cfg, listen)
	if err := os.WriteFile(cfg, []byte(strings.Replace(text, "domain: umbra.test", "domain: other.test", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return reloadOutcome(string(b))
	})
	failed := logLinesWith(d, "reload failed")
	if len(failed) != 1 || !strings.Contains(failed[0], "postmaster@umbra.test") {
		d.dumpLog()
		t.Fatalf("the reload leaving postmaster@umbra.test (derived from an internal_relay domain) outside: %q; want one refusal naming it", failed)
	}
	if strings.Contains(failed[0], "first authoritative domain") {
		t.Errorf("the refusal says the postmaster was derived from the first authoritative domain; this server has none (it came from the internal_relay domain umbra.test):\n%s", failed[0])
	}
}
