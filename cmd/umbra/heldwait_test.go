package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-1 (rt25c F1): umbra serve started while an offline db command
// (restore, compact) holds the transport database waits for it as long
// as it runs — it gave up after 2 s, exit 1, and a restore or compaction
// of any size takes longer — logging once that it waits, naming the
// holder; once the holder ends, it starts on the database. The holder
// here is a process of its own holding the database's lock, as a db
// command does, for longer than the old 2 s.
func TestStartWaitsForADbCommandHoldingTheDatabase(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "data", "queue.db")
	holder := exec.Command("python3", "-c", `import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
time.sleep(120)`, db)
	if err := holder.Start(); err != nil {
		t.Skipf("python3: %v", err)
	}
	held := make(chan struct{})
	defer func() {
		holder.Process.Kill()
		holder.Wait()
	}()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if h, _, _ := queue.LockHolder(db); h {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the holder did not take the lock")
		}
	}
	// The holder ends once serve says it waits (past its first 2 s wait),
	// and one more ask later, which the old serve never reached.
	sawWait := make(chan string, 1)
	go func() {
		defer close(held)
		for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			b, _ := os.ReadFile(cfg + ".log")
			if strings.Contains(string(b), "waiting for it to end") {
				sawWait <- string(b)
				time.Sleep(queue.HeldByEvery + time.Second)
				break
			}
		}
		holder.Process.Kill()
	}()
	d := startUmbra(t, cfg, listen) // fails when serve exits at start
	d.dumpLogIfFailed()
	<-held
	select {
	case log := <-sawWait:
		if !strings.Contains(log, "pid "+strconv.Itoa(holder.Process.Pid)) {
			t.Errorf("the wait's log line does not name the holder's pid %d:\n%s", holder.Process.Pid, log)
		}
		if strings.Count(log, "waiting for it to end") != 1 {
			t.Errorf("the wait is logged more than once:\n%s", log)
		}
	default:
		t.Error("serve started without logging that it waited for the holder")
	}
}
