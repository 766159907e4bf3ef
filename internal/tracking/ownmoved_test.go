package tracking

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SPEC OPS-4: a rotation from outside (logrotate without
// dateext: tracking.log -> tracking.log.1) leaves the daemon holding the
// moved file, locked, until its next event or SIGHUP. config check of the
// daemon's own configuration then must not call that file "another umbra
// daemon's tracking log" and refuse the configuration.
func TestOPS4CheckPathOwnMovedFileIsNotAnotherDaemons(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracking.log")
	l, err := Open(path, 1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write(Entry{Time: time.Now(), Event: "receive", ID: "A"})
	if err := os.Rename(path, path+".1"); err != nil { // logrotate's rename, no event since
		t.Fatal(err)
	}
	if err := CheckPath(path, 3); err != nil {
		t.Errorf("config check of the running daemon's own configuration after an outside rotation: %v", err)
	}
}
