package config

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// A test that names a fixed path in the system's temporary directory (a
// data_dir of x there) depends on what another user or test left there:
// a regular file of that name made three config tests fail ("a directory setting naming a file"). Every
// path a test writes into a configuration is under t.TempDir(), or
// relative; this guard keeps it so for the package's tests and its
// testdata.
func TestNoFixedTmpPathsInTests(t *testing.T) {
	fixed := regexp.MustCompile(`(^|[^A-Za-z0-9_.])/` + `tmp/[A-Za-z0-9_.-]`)
	var files []string
	for _, pattern := range []string{"*_test.go", "testdata/*/*", "testdata/*"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no test files found")
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, loc := range fixed.FindAllIndex(b, -1) {
			t.Errorf("%s: a fixed path under /tmp (%q): use t.TempDir() or a relative path", f, b[loc[0]:min(loc[1]+10, len(b))])
		}
	}
}
