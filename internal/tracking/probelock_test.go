package tracking

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// SPEC OPS-4: the lock probe takes a shared flock on
// the files it probes; another configuration's config check (a path
// X.1, whose base X it probes) run while the daemon of X rotates must not
// make that daemon's own exclusive, non-blocking lock of its new file
// fail: its events would be lost (counted) until it opens again.
func TestOPS4ProbeNeverFailsTheOwnersLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trk")
	l, err := Open(path, 4<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // the other configuration's `umbra config check`, repeated (bounded)
		defer close(done)
		for i := 0; i < 200000 && !stop.Load(); i++ {
			CheckPath(path+".1", 3)
		}
	}()
	for i := 0; i < 20000; i++ { // bounded: thousands of rotations of 4 KiB
		l.Write(Entry{Time: time.Now(), Event: "receive", ID: "B", Sender: strings.Repeat("s", 60)})
		if testutil.ToFloat64(l.lost) > 0 {
			break
		}
	}
	stop.Store(true)
	<-done
	if n := testutil.ToFloat64(l.lost); n > 0 {
		t.Errorf("%v events of the running log lost: a probe's shared lock made its rotation's lock fail", n)
	}
}
