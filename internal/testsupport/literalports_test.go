package testsupport

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// literalAddr matches a loopback address written with its port in a
// test's source.
var literalAddr = regexp.MustCompile(`127\.0\.0\.\d{1,3}:(\d{4,5})\b`)

// No test of the repository writes a loopback address whose port lies in
// the kernel's usual ephemeral range (32768-60999): an outgoing
// connection from the same address (a daemon's pooled session) may hold
// that port as its local port when the test binds it, and the bind fails
// for as long as the session lasts (CI run of a1c7b688:
// TestReceiptCopyOnNextHopMergedMixedCaseNames, port 38013 of 127.0.0.160).
// Ranges a test picks from are the helpers' (FreeAddr, Reserve,
// AddrInRange with a range below 32768).
func TestNoTestAddressInEphemeralRange(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				for _, m := range literalAddr.FindAllStringSubmatch(line, -1) {
					if p, _ := strconv.Atoi(m[1]); p >= 32768 && p <= 60999 {
						rel, _ := filepath.Rel(root, path)
						found = append(found, rel+":"+strconv.Itoa(i+1)+": "+m[0])
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range found {
		t.Errorf("%s: a port of the ephemeral range (use FreeAddr, Reserve or AddrInRange below 32768)", f)
	}
}
