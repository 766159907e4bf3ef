package admin

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSquatHelper is the process of TestStartMarkOfAnotherProgram that
// binds a start mark's abstract name: not umbra serve.
func TestSquatHelper(t *testing.T) {
	name := os.Getenv("UMBRA_SQUAT_NAME")
	if name == "" {
		t.Skip("helper")
	}
	l, err := net.Listen("unix", name)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(os.Getenv("UMBRA_SQUAT_SAY") + "\n"))
			c.Close()
		}
	}()
	os.WriteFile(os.Getenv("UMBRA_SQUAT_READY"), nil, 0o600)
	time.Sleep(30 * time.Second)
}

// OPS-3 (rr24 F1): the start mark is an abstract name, which carries no
// permission: any local process may bind it. A command against a stopped
// daemon says "not running" (ErrUnavailable), not "starting" or
// "stopping", when the process on the mark is not umbra serve of this
// installation: another executable (a copy of it, here), or this one with
// serve not its subcommand ("serve" only a word in its argv).
func TestStartMarkOfAnotherProgram(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	copyExecutable(t, self, other)
	for _, tc := range []struct {
		name string
		bin  string
		args []string
	}{
		{"another-program", other, []string{"-test.run=^TestSquatHelper$", "-test.count=1", "serve"}},
		{"serve-not-subcommand", self, []string{"-test.run=^TestSquatHelper$", "-test.count=1", "--", "squat", "serve"}},
	} {
		for _, say := range []string{"starting", "stopping"} {
			t.Run(tc.name+"/"+say, func(t *testing.T) {
				dir := t.TempDir()
				sock := filepath.Join(dir, "admin.sock") // no daemon: nothing listens, no file
				c := NewClient(sock)
				c.SetDatabase(filepath.Join(dir, "queue.db"))
				if _, err := c.Status(); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("before the squatter: %v, want ErrUnavailable", err)
				}
				ready := filepath.Join(dir, "ready")
				cmd := exec.Command(tc.bin, tc.args...)
				cmd.Env = append(os.Environ(), "UMBRA_SQUAT_NAME="+startingName(sock), "UMBRA_SQUAT_READY="+ready, "UMBRA_SQUAT_SAY="+say)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { cmd.Process.Kill(); cmd.Wait() }()
				for i := 0; i < 1000; i++ {
					if _, err := os.Stat(ready); err == nil {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if _, err := os.Stat(ready); err != nil {
					t.Fatal("the squatter did not bind the mark")
				}
				if _, err := c.Status(); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("no umbra runs, yet the command says: %v", err)
				}
			})
		}
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
