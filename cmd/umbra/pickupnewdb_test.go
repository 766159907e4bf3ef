package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SR-12: a pickup file is deleted only once the message was handed on.
// A server that starts with a database that does not hold the record a
// NAME.<id>.queued file names — queue.db moved aside after a SIGTERM, the
// whole data_dir gone after a kill -9 — has no record of the message ever
// being handed on: the file is the message's only copy, so it is
// submitted again (a warning names it) and delivered, never deleted
// unsent (rt29 pick F1).
func TestPickupFileSurvivesNewDatabase(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stop    syscall.Signal
		wipe    bool // the whole data_dir, not queue.db alone
		restore bool // db restore of a backup taken before the drop
	}{
		{"sigterm-db-moved-aside", syscall.SIGTERM, false, false},
		{"kill9-data-dir-wiped", syscall.SIGKILL, true, false},
		{"kill9-older-backup-restored", syscall.SIGKILL, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pick := filepath.Join(t.TempDir(), "pickup") // outside data_dir
			if err := os.Mkdir(pick, 0o700); err != nil {
				t.Fatal(err)
			}
			listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
			cfg := relayConfig(t, dir, listen, sinkAddr)
			b, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, append(b, []byte("pickup: {directory: "+pick+", interval: 100ms}\n")...), 0o600)
			d := startUmbra(t, cfg, listen)
			d.dumpLogIfFailed()
			backup := filepath.Join(dir, "before-f1.db")
			if tc.restore {
				if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
					t.Fatalf("db backup: exit %d %q", code, out)
				}
			}
			os.WriteFile(filepath.Join(pick, ".f1.tmp"), []byte("X-Sender: app@example.org\nX-Receiver: ops@remote.example\nSubject: f1-only-copy\n\nthe file is the only copy\n"), 0o600)
			os.Rename(filepath.Join(pick, ".f1.tmp"), filepath.Join(pick, "f1.eml"))
			waitCond(t, "the file to be marked queued", 30*time.Second, func() bool {
				m, _ := filepath.Glob(filepath.Join(pick, "f1.*.queued"))
				return len(m) == 1
			})
			d.cmd.Process.Signal(tc.stop)
			<-d.done
			d.done <- nil
			data := filepath.Join(dir, "data")
			switch {
			case tc.restore:
				// The database holds f1 with its recipient still to
				// deliver: restoring over it needs --discard-newer.
				if out, code := cli(t, cfg, "db", "restore", "--discard-newer", backup); code != 0 {
					t.Fatalf("db restore: exit %d %q", code, out)
				}
			case tc.wipe:
				if err := os.Rename(data, data+".lost"); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.Rename(filepath.Join(data, "queue.db"), filepath.Join(dir, "queue.db.aside")); err != nil {
					t.Fatal(err)
				}
			}
			d = startUmbra(t, cfg, listen)
			d.dumpLogIfFailed()
			waitCond(t, "a warning naming the file submitted again", 30*time.Second, func() bool {
				b, _ := os.ReadFile(d.log)
				return strings.Contains(string(b), "submitted again") && strings.Contains(string(b), "f1.")
			})
			if m, _ := filepath.Glob(filepath.Join(pick, "f1*")); len(m) != 1 {
				t.Fatalf("pickup directory holds %q after the start, want the file of f1 (queued again)", m)
			}
			r := startRecorder(t, sinkAddr)
			waitArrived(t, r, []string{"f1-only-copy"}, d)
			waitCond(t, "the file to be deleted once handed on", 30*time.Second, func() bool {
				m, _ := filepath.Glob(filepath.Join(pick, "[^.]*")) // dot files are never submitted
				return len(m) == 0
			})
		})
	}
}

// SR-12: a pickup directory is one server's. A second server started on
// another's pickup directory would take the first one's NAME.<id>.queued
// files, whose messages its database does not hold, for files to submit
// again (and both would submit each new file): it refuses to start,
// naming the directory, and the first server's file stays its own.
func TestPickupDirectoryIsOneServers(t *testing.T) {
	pick := filepath.Join(t.TempDir(), "pickup")
	if err := os.Mkdir(pick, 0o700); err != nil {
		t.Fatal(err)
	}
	var cfgs, listens []string
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		listen := freeAddr(t, "127.0.0.1")
		cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
		b, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, append(b, []byte("pickup: {directory: "+pick+", interval: 100ms}\n")...), 0o600)
		cfgs, listens = append(cfgs, cfg), append(listens, listen)
	}
	a := startUmbra(t, cfgs[0], listens[0])
	a.dumpLogIfFailed()
	os.WriteFile(filepath.Join(pick, ".f1.tmp"), []byte("X-Sender: app@example.org\nX-Receiver: ops@remote.example\nSubject: f1\n\nhi\n"), 0o600)
	os.Rename(filepath.Join(pick, ".f1.tmp"), filepath.Join(pick, "f1.eml"))
	waitCond(t, "the file to be marked queued", 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(pick, "f1.*.queued"))
		return len(m) == 1
	})
	queued, _ := filepath.Glob(filepath.Join(pick, "f1.*.queued"))
	if b, _ := launchUmbra(t, cfgs[1], listens[1], nil); b != nil {
		t.Fatal("a second server started on another running server's pickup directory")
	}
	if log, _ := os.ReadFile(cfgs[1] + ".log"); !strings.Contains(string(log), "another running server uses this pickup directory") ||
		!strings.Contains(string(log), pick) {
		t.Fatalf("the refused start does not name the shared pickup directory:\n%s", log)
	}
	if _, err := os.Stat(queued[0]); err != nil {
		t.Fatalf("the first server's .queued file: %v", err)
	}
}

// SR-12: the pickup directory itself is locked, so removing the lock
// file of an older version's name frees nothing: a second server started
// on a running server's directory after `rm .umbra-pickup.lock` is
// refused all the same, and never gives the first server's .queued file
// back for a second delivery.
func TestSR12PickupDirectoryLockSurvivesLockFileRemoval(t *testing.T) {
	pick := filepath.Join(t.TempDir(), "pickup")
	if err := os.Mkdir(pick, 0o700); err != nil {
		t.Fatal(err)
	}
	var cfgs, listens []string
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		listen := freeAddr(t, "127.0.0.1")
		cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
		b, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, append(b, []byte("pickup: {directory: "+pick+", interval: 100ms}\n")...), 0o600)
		cfgs, listens = append(cfgs, cfg), append(listens, listen)
	}
	a := startUmbra(t, cfgs[0], listens[0])
	a.dumpLogIfFailed()
	os.WriteFile(filepath.Join(pick, ".f1.tmp"), []byte("X-Sender: app@example.org\nX-Receiver: ops@remote.example\nSubject: f1\n\nhi\n"), 0o600)
	os.Rename(filepath.Join(pick, ".f1.tmp"), filepath.Join(pick, "f1.eml"))
	waitCond(t, "the file to be marked queued", 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(pick, "f1.*.queued"))
		return len(m) == 1
	})
	queued, _ := filepath.Glob(filepath.Join(pick, "f1.*.queued"))
	os.Remove(filepath.Join(pick, ".umbra-pickup.lock"))
	if b, _ := launchUmbra(t, cfgs[1], listens[1], nil); b != nil {
		t.Fatal("a second server started on another running server's pickup directory once its lock file was removed")
	}
	if log, _ := os.ReadFile(cfgs[1] + ".log"); !strings.Contains(string(log), "another running server uses this pickup directory") {
		t.Fatalf("the refused start does not say the pickup directory is taken:\n%s", log)
	}
	if _, err := os.Stat(queued[0]); err != nil {
		t.Fatalf("the first server's .queued file: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(pick, "*.restored-*")); len(m) != 0 {
		t.Fatalf("the first server's file given back by the second: %v", m)
	}
}
