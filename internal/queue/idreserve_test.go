package queue

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An id handed out whose message never committed (the 554 of a message
// refused at the end of DATA names it, and so do its log and tracking
// lines) is never handed out again by the same database: not after a
// stop, and not after a kill -9, whatever the clock reads at the next
// start. Ids are microsecond timestamps, so the one reading that repeats
// one is a clock back where it was (an NTP step, a VM restored).

// TestIDUncommittedNotRepeatedAfterRestart: a clean stop and start,
// the clock reading the same as when the id was handed out.
func TestIDUncommittedNotRepeatedAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	for _, at := range []time.Time{
		time.Now(),                     // inside what Open reserved
		time.Now().Add(24 * time.Hour), // past it: NewID commits a reservation first
	} {
		s, err := Open(path, Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		first := s.NewID(at)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path, Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		again := s.NewID(at)
		s.Close()
		if again <= first {
			t.Fatalf("id %s handed out after a restart, the clock reading %v again: %s was handed out before it "+
				"(never committed): ids repeat", again, at, first)
		}
	}
}

const idKillChildEnv = "UMBRA_ID_KILL_CHILD"

// TestIDKillChild is the child's part of TestIDUncommittedNotRepeatedAfterKill9:
// it opens the database, hands out ids at the clock reading it is given,
// prints each, and waits to be killed.
func TestIDKillChild(t *testing.T) {
	at := os.Getenv(idKillChildEnv)
	if at == "" {
		t.Skip("run by TestIDUncommittedNotRepeatedAfterKill9")
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	s, err := Open(os.Getenv("UMBRA_ID_KILL_DB"), Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	for i := 0; i < 3; i++ {
		fmt.Println("ID", s.NewID(time.UnixMicro(us)))
	}
	fmt.Println("DONE")
	select {} // killed here: nothing is committed after the ids
}

// TestIDUncommittedNotRepeatedAfterKill9: real processes, killed with
// SIGKILL after handing out ids (and committing no message); the next
// process, its clock reading the same, hands out none of them.
func TestIDUncommittedNotRepeatedAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	db := filepath.Join(t.TempDir(), "queue.db")
	run := func(at time.Time) []ID {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestIDKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), idKillChildEnv+"="+strconv.FormatInt(at.UnixMicro(), 10), "UMBRA_ID_KILL_DB="+db)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}()
		var ids []ID
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "ID "); ok {
				v, err := ParseID(id)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, v)
			} else if line == "DONE" {
				return ids
			} else if strings.HasPrefix(line, "ERR") {
				t.Fatal(line)
			}
		}
		t.Fatal("the child ended before handing out its ids")
		return nil
	}
	seen := map[ID]int{}
	now, later := time.Now(), time.Now().Add(24*time.Hour)
	for i, at := range []time.Time{
		now, now, // inside what each Open reserved
		later, later, // past it
	} {
		for _, id := range run(at) {
			if j, ok := seen[id]; ok {
				t.Fatalf("process %d handed out id %s, which process %d handed out before its kill -9: ids repeat", i, id, j)
			}
			seen[id] = i
		}
	}
}
