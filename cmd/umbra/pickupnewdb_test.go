package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newPickupDir makes an empty pickup directory, outside any data_dir.
func newPickupDir(t *testing.T) string {
	t.Helper()
	pick := filepath.Join(t.TempDir(), "pickup")
	if err := os.Mkdir(pick, 0o700); err != nil {
		t.Fatal(err)
	}
	return pick
}

// dropF1 puts the message text as f1.eml into the pickup directory pick
// (written as a dot file, then renamed, as an application should) and
// waits until the server marks it queued; it returns the .queued file.
func dropF1(t *testing.T, pick, text string) string {
	t.Helper()
	os.WriteFile(filepath.Join(pick, ".f1.tmp"), []byte(text), 0o600)
	os.Rename(filepath.Join(pick, ".f1.tmp"), filepath.Join(pick, "f1.eml"))
	waitCond(t, "the file to be marked queued", 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(pick, "f1.*.queued"))
		return len(m) == 1
	})
	queued, _ := filepath.Glob(filepath.Join(pick, "f1.*.queued"))
	return queued[0]
}

// pickupTakenByOne writes two servers' files on one pickup directory,
// starts the first and has it queue a file, f1; it returns the
// directory, the second server's file and address, and the first's
// .queued file.
func pickupTakenByOne(t *testing.T) (pick, cfg2, listen2, queued string) {
	t.Helper()
	pick = newPickupDir(t)
	var cfgs, listens []string
	for i := 0; i < 2; i++ {
		listen := freeAddr(t, "127.0.0.1")
		cfgs, listens = append(cfgs, pickupRelayConfig(t, t.TempDir(), listen, reserveAddr(t, "127.0.0.1"), pick)), append(listens, listen)
	}
	a := startUmbra(t, cfgs[0], listens[0])
	a.dumpLogIfFailed()
	queued = dropF1(t, pick, "X-Sender: app@example.org\nX-Receiver: ops@remote.example\nSubject: f1\n\nhi\n")
	return pick, cfgs[1], listens[1], queued
}

// SR-12: a pickup file is deleted only once the message was handed on.
// A server that starts with a database that does not hold the record a
// NAME.<id>.queued file names — queue.db moved aside after a SIGTERM, the
// whole data_dir gone after a kill -9 — has no record of the message ever
// being handed on: the file is the message's only copy, so it is
// submitted again (a warning names it) and delivered, never deleted
// unsent (rt29 pick F1).
func TestPickupFileSurvivesNewDatabase(t *testing.T) {
	t.Parallel()
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
			pick := newPickupDir(t)
			listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
			cfg := pickupRelayConfig(t, dir, listen, sinkAddr, pick)
			d := startUmbra(t, cfg, listen)
			d.dumpLogIfFailed()
			backup := filepath.Join(dir, "before-f1.db")
			if tc.restore {
				if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
					t.Fatalf("db backup: exit %d %q", code, out)
				}
			}
			dropF1(t, pick, "X-Sender: app@example.org\nX-Receiver: ops@remote.example\nSubject: f1-only-copy\n\nthe file is the only copy\n")
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
	pick, cfg2, listen2, queued := pickupTakenByOne(t)
	if b, _ := launchUmbra(t, cfg2, listen2, nil); b != nil {
		t.Fatal("a second server started on another running server's pickup directory")
	}
	if log, _ := os.ReadFile(cfg2 + ".log"); !strings.Contains(string(log), "another running server uses this pickup directory") ||
		!strings.Contains(string(log), pick) {
		t.Fatalf("the refused start does not name the shared pickup directory:\n%s", log)
	}
	if _, err := os.Stat(queued); err != nil {
		t.Fatalf("the first server's .queued file: %v", err)
	}
}

// SR-12: the pickup directory itself is locked, so removing the lock
// file of an older version's name frees nothing: a second server started
// on a running server's directory after `rm .umbra-pickup.lock` is
// refused all the same, and never gives the first server's .queued file
// back for a second delivery.
func TestSR12PickupDirectoryLockSurvivesLockFileRemoval(t *testing.T) {
	pick, cfg2, listen2, queued := pickupTakenByOne(t)
	os.Remove(filepath.Join(pick, ".umbra-pickup.lock"))
	if b, _ := launchUmbra(t, cfg2, listen2, nil); b != nil {
		t.Fatal("a second server started on another running server's pickup directory once its lock file was removed")
	}
	if log, _ := os.ReadFile(cfg2 + ".log"); !strings.Contains(string(log), "another running server uses this pickup directory") {
		t.Fatalf("the refused start does not say the pickup directory is taken:\n%s", log)
	}
	if _, err := os.Stat(queued); err != nil {
		t.Fatalf("the first server's .queued file: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(pick, "*.restored-*")); len(m) != 0 {
		t.Fatalf("the first server's file given back by the second: %v", m)
	}
}
