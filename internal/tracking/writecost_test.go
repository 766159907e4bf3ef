package tracking

import (
	"path/filepath"
	"testing"
	"time"
)

// SPEC OPS-4: an event's line is written on every message's path (two
// or more a message), so the write itself stays cheap: the check for an
// outside rotation (reopen.go) looks up the path once, and compares it
// with the identity of the file held, taken when that file was opened —
// an open file's device and inode never change, so asking the kernel
// for them at every write (an fstat and its FileInfo) is waste. The
// line's buffer is pooled; what remains is the one lookup of the path.
func TestWriteAllocations(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := Entry{Time: time.Now().UTC(), Event: "send", ID: "0000000000001A2B", Sender: "a@example.org",
		Recipients: []string{"b@remote.example"}, Size: 4096, Queue: "smtp:remote.example", NextHop: "127.0.0.1:2525",
		Reply: "250 2.0.0 Ok: queued as 1234", Delay: 0.004}
	l.Write(e) // the pool's first buffer
	if n := testing.AllocsPerRun(200, func() { l.Write(e) }); n > 1 {
		t.Errorf("one tracking line: %.0f allocations, want at most 1 (the path's lookup)", n)
	}
}
