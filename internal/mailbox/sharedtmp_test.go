package mailbox

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const sharedTmpChildEnv = "UMBRA_TEST_SHARED_TMP_ROOT"

// TestSharedTmpChild is the child's part of the test below: server
// hub01.example.org delivering O1 into the shared store, paused in the
// middle of its write into tmp/ until the parent removes ROOT/go.
func TestSharedTmpChild(t *testing.T) {
	root := os.Getenv(sharedTmpChildEnv)
	if root == "" {
		t.Skip("run by TestSharedStoreKeepsAnotherServersTmpFile")
	}
	d := &Maildir{Root: root, Hostname: "hub01.example.org"}
	err := d.DeliverWith("bob", "example.test", "a@example.org", "O1", []byte("Subject: x\r\n\r\n"),
		&pausedTail{gate: filepath.Join(root, "go")}, Options{Check: CheckNames})
	if err != nil && !errors.Is(err, ErrAlreadyDelivered) {
		t.Fatal(err)
	}
}

// pausedTail yields one line, then waits (at most a minute) until the
// file gate is gone before it ends: a write in flight.
type pausedTail struct {
	gate string
	sent bool
}

func (p *pausedTail) Read(b []byte) (int, error) {
	if !p.sent {
		p.sent = true
		return copy(b, "first part\r\n"), nil
	}
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(p.gate); err != nil {
			return 0, io.EOF
		}
	}
	return 0, io.EOF
}

// TD-2, SR-11 (ops26 6): two hubs delivering into one shared Maildir
// store (each its own server.name) never sweep each other's file in
// flight in tmp/: a writer removes only files of its own name (NAME.HOST.
// and a process id, an earlier process's) and files untouched for 36
// hours. The other hub's process id differs from this one's, so a sweep
// by process id alone would remove its file mid-write — the file name's
// host part keeps it, also for a server name that begins with the
// other's (hub01.example and hub01.example.org). A real second process
// writes, paused mid-write, while this one delivers the same message.
func TestSharedStoreKeepsAnotherServersTmpFile(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestSharedTmpChild$", "-test.count=1")
	child.Env = append(os.Environ(), sharedTmpChildEnv+"="+root)
	out, _ := os.CreateTemp(t.TempDir(), "child")
	child.Stdout, child.Stderr = out, out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	defer func() {
		os.Remove(filepath.Join(root, "go"))
		child.Process.Kill()
		<-done
	}()
	tmp := filepath.Join((&Maildir{Root: root}).Path("bob", "example.test"), "tmp")
	var inFlight string
	for end := time.Now().Add(30 * time.Second); inFlight == ""; time.Sleep(10 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(tmp, "O1.hub01.example.org.*")); len(m) == 1 {
			inFlight = m[0]
		}
		if time.Now().After(end) {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("the other hub's write did not begin:\n%s", b)
		}
	}
	for _, host := range []string{"hub02.example.org", "hub01.example", "hub01"} {
		d := &Maildir{Root: root, Hostname: host}
		err := d.DeliverWith("bob", "example.test", "a@example.org", "O1", []byte("Subject: x\r\n\r\nhi\r\n"), nil, Options{Check: CheckNames})
		if err != nil && !errors.Is(err, ErrAlreadyDelivered) {
			t.Fatalf("%s: %v", host, err)
		}
		if _, err := os.Stat(inFlight); err != nil {
			t.Fatalf("%s swept the file hub01.example.org is writing (%s): %v", host, filepath.Base(inFlight), err)
		}
	}
	os.Remove(filepath.Join(root, "go"))
	if err := <-done; err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("the other hub's delivery: %v\n%s", err, b)
	}
	done <- nil
	if _, err := os.Stat(inFlight); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the other hub left its tmp file: %v", err)
	}
}
