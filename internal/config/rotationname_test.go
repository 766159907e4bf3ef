package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// A file a command writes (db backup, message export, dkim generate) may
// not be a rotation of the tracking log, and the refusal says so: it is
// a rotation of tracking.path, not tracking.path itself. A name past
// tracking.max_files (tracking.log.11, .99) is refused too: raising
// max_files would rotate the log over it.
func TestWriteConflictNamesTrackingRotations(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte("server: {name: a.example.test, data_dir: "+dir+"}\n"+
		"receive_connectors: [{name: x, bindings: [\"127.0.0.214:15400\"]}]\n"+
		"tracking: {enabled: true, max_files: 10}\n"), filepath.Join(dir, "c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	log := c.Tracking.Path
	for name, want := range map[string]string{
		log:         "is tracking.path",
		log + ".1":  "is a rotation of tracking.path " + log,
		log + ".10": "is a rotation of tracking.path " + log,
		log + ".11": "a rotation name of tracking.path " + log,
		log + ".99": "a rotation name of tracking.path " + log,
	} {
		err := c.WriteConflict(name)
		if err == nil || !strings.Contains(err.Error(), want) || name != log && strings.Contains(err.Error(), "is tracking.path ("+name) {
			t.Errorf("WriteConflict(%s) = %v; want it to say %q", name, err, want)
		}
		depth := func(d string) int {
			if SameFile(d, filepath.Dir(name)) {
				return 0
			}
			return -1
		}
		err = c.WriteConflictHeld(name, depth)
		if err == nil || !strings.Contains(err.Error(), want) || name != log && strings.Contains(err.Error(), "is tracking.path ("+name) {
			t.Errorf("WriteConflictHeld(%s) = %v; want it to say %q", name, err, want)
		}
	}
	for _, name := range []string{log + ".bak", log + ".1.bak", log + ".", log + "1", log + ".011"} {
		if err := c.WriteConflict(name); err != nil {
			t.Errorf("WriteConflict(%s) = %v; want none", name, err)
		}
	}
}
