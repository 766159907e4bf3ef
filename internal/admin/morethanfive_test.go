package admin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt30c F8): on a host with more umbra serve processes than the
// five "umbra runs, but not at this admin socket" names, the answer did
// not say it left some out: the operator looking for the daemon of their
// configuration among them could not tell it was not listed. It says
// how many more run and how to list them all.
func TestOPS3OtherServeSaysHowManyMore(t *testing.T) {
	saved := listServeProcs
	defer func() { listServeProcs = saved }()
	n := 8
	listServeProcs = func() []serveProc {
		var ps []serveProc
		for i := range n {
			ps = append(ps, serveProc{pid: os.Getpid(), config: fmt.Sprintf("/etc/umbra/hub%d.yaml", i), named: true})
		}
		return ps
	}
	c := NewClient(filepath.Join(t.TempDir(), "admin.sock"))
	c.SetDefaultConfig("the default configuration")
	err := c.OtherServeErr()
	if err == nil {
		t.Fatal("no answer for 8 daemons at other sockets")
	}
	msg := err.Error()
	if !strings.Contains(msg, "hub4.yaml") || strings.Contains(msg, "hub5.yaml") || !strings.Contains(msg, "and 3 more") {
		t.Errorf("8 daemons: %s; want five named and \"and 3 more\"", msg)
	}
	n = 5
	if msg := c.OtherServeErr().Error(); strings.Contains(msg, "more") {
		t.Errorf("5 daemons: %s; want no \"more\"", msg)
	}
	// The daemon whose file lies nearest the directory the command runs
	// in is named first, however late it is found: the operator's own
	// among many (the checker's, started from its directory, was left
	// out for five others).
	here := t.TempDir()
	t.Chdir(here)
	listServeProcs = func() []serveProc {
		var ps []serveProc
		for i := range 8 {
			ps = append(ps, serveProc{pid: os.Getpid(), config: fmt.Sprintf("/etc/umbra/hub%d.yaml", i), named: true})
		}
		return append(ps, serveProc{pid: os.Getpid(), config: filepath.Join(here, "cfg", "mine.yaml"), named: true})
	}
	if msg := c.OtherServeErr().Error(); !strings.Contains(msg, "umbra runs (pid "+fmt.Sprint(os.Getpid())+", -c "+filepath.Join(here, "cfg", "mine.yaml")) ||
		!strings.Contains(msg, "and 4 more") {
		t.Errorf("9 daemons, one started from here: %s; want it named first and \"and 4 more\"", msg)
	}
}
