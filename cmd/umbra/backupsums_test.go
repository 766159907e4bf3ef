package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	bolt "go.etcd.io/bbolt"
)

// The operator's view of a backup damaged after it was written (the red
// team's repro: 4 bytes flipped inside a queued body of a real backup):
// db restore refuses it naming the message, leaves the database as it
// was, and restores the sound backup — twice within a second too. A
// backup without checksums (an older release) needs --unverified.
func TestDBRestoreRefusesChangedBackup(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: the messages wait
	d := startUmbra(t, cfg, listen)
	sendBody := func(marker string, n int) {
		t.Helper()
		c, err := gosmtp.Dial(listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		half := strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz 0123456789\r\n", n/2/51)
		body := "From: a@example.org\r\nSubject: " + marker + "\r\n\r\n" + half + marker + "-IN-THE-BODY\r\n" + half
		if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	sendBody("SMALLMSG", 20<<10)
	sendBody("SPOOLEDMSG", 600<<10) // past spool_threshold (256KiB): a spool file, carried whole in the backup
	backup := filepath.Join(dir, "b.db")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	live := filepath.Join(dir, "data", "queue.db")
	good, _ := os.ReadFile(backup)
	for _, marker := range []string{"SMALLMSG-IN-THE-BODY", "SPOOLEDMSG-IN-THE-BODY"} {
		// Every copy of the marker: a page the database freed may hold
		// an older copy too (what is in free pages is never read).
		bad := bytes.Clone(good)
		n := 0
		for i := bytes.Index(bad, []byte(marker)); i >= 0; i = bytes.Index(bad, []byte(marker)) {
			copy(bad[i+4:], []byte{0xff, 0xff, 0xff, 0xff})
			n++
		}
		if n == 0 {
			t.Fatalf("%s is not in the backup", marker)
		}
		flip := filepath.Join(dir, "flip.db")
		os.WriteFile(flip, bad, 0o600)
		before, _ := os.ReadFile(live)
		if code, errOut := cliErr(t, cfg, "db", "verify", flip); code != exitFailure || !strings.Contains(errOut, "its body differs") {
			t.Errorf("%s: db verify of a changed body: exit %d %q", marker, code, errOut)
		}
		code, errOut := cliErr(t, cfg, "db", "restore", flip)
		t.Logf("%s: exit %d: %s", marker, code, errOut)
		if code != exitFailure || !strings.Contains(errOut, "damaged") || !strings.Contains(errOut, "its body differs") {
			t.Errorf("%s: a changed body: exit %d %q", marker, code, errOut)
		}
		if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
			t.Errorf("%s: the database changed", marker)
		}
	}
	if out, code := cli(t, cfg, "db", "verify", backup); code != 0 || !strings.Contains(out, "every checksum matches") {
		t.Fatalf("db verify of the sound backup: exit %d %q", code, out)
	}
	var kept []string
	for i := 0; i < 2; i++ {
		out, code := cli(t, cfg, "db", "restore", "--owner", selfOwner(), backup)
		if code != 0 || !strings.Contains(out, "kept as") {
			t.Fatalf("restore %d: exit %d %q", i+1, code, out)
		}
		kept = append(kept, out[strings.Index(out, "kept as"):])
	}
	if kept[0] == kept[1] {
		t.Fatalf("both restores kept the replaced database as %s", kept[0])
	}
	// A backup a newer release wrote (a newer schema): verify says so,
	// restore refuses it before anything is replaced, with or without
	// --unverified.
	newer := filepath.Join(dir, "newer.db")
	os.WriteFile(newer, good, 0o600)
	if db, err := bolt.Open(newer, 0o600, &bolt.Options{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	} else {
		db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{99}) })
		db.Close()
	}
	if code, errOut := cliErr(t, cfg, "db", "verify", newer); code != exitFailure || !strings.Contains(errOut, "schema version 99, written by a newer release") {
		t.Errorf("db verify of a newer schema: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{{"db", "restore", newer}, {"db", "restore", "--unverified", newer}} {
		before, _ := os.ReadFile(live)
		code, errOut := cliErr(t, cfg, args...)
		if code != exitFailure || !strings.Contains(errOut, "schema version 99, written by a newer release") || !strings.Contains(errOut, "The database is unchanged") {
			t.Errorf("%v: exit %d %q", args, code, errOut)
		}
		if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
			t.Errorf("%v: the database changed", args)
		}
	}
	// A backup of a release that recorded no checksums.
	old := filepath.Join(dir, "old.db")
	os.WriteFile(old, good, 0o600)
	db, err := bolt.Open(old, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("backupsums")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, errOut := cliErr(t, cfg, "db", "restore", old); code != exitFailure || !strings.Contains(errOut, "--unverified") {
		t.Fatalf("a backup without checksums: exit %d %q", code, errOut)
	}
	if out, code := cli(t, cfg, "db", "restore", "--unverified", old); code != 0 {
		t.Fatalf("--unverified: exit %d %q", code, out)
	}
	// The restored database serves the messages, their bodies whole.
	startUmbra(t, cfg, listen)
	out, code := cli(t, cfg, "message", "list", "--json")
	if code != 0 || strings.Count(out, `"id"`) != 2 {
		t.Fatalf("restored queue: exit %d %s", code, out)
	}
}

// The disaster the backup is for: the disk with the data directory is
// gone. db restore onto the rebuilt machine makes the directory, and the
// daemon then delivers the restored message.
func TestDBRestoreIntoMissingDataDir(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the smart host is down: the messages wait
	d := startUmbra(t, cfg, listen)
	acked := sendAll(t, nil, listen, "newdisk", 2, 1)
	backup := filepath.Join(t.TempDir(), "b.db")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, cfg, "db", "restore", "--owner", selfOwner(), backup)
	if code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("db restore into a missing data directory: exit %d %q", code, out)
	}
	sink := startRecorder(t, sinkAddr)
	d = startUmbra(t, cfg, listen)
	waitArrived(t, sink, acked, d)
}
