package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var helperCall = regexp.MustCompile(`\bgd\.(?:loop|run|goRun)\((?:[A-Za-z_][A-Za-z0-9_]*, )?"([^"]+)"`)

// OPS-2: every part the daemon's helpers count
// under umbra_helper_panics_total is in helperParts — exported at zero
// from the start and named by the README's Metrics section (whose test,
// TestOPS2ReadmeMetricsListEveryPanicsCounter, reads the parts from
// helperParts itself, so a part missing there is never found).
func TestOPS2EveryHelperPartIsExportedAtZero(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	var used []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range helperCall.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
			if !slices.Contains(helperParts, m[1]) {
				t.Errorf("%s: the helper part %q is counted under umbra_helper_panics_total but not in helperParts "+
					"(not exported at zero, not in the README's list)", f, m[1])
			}
		}
	}
	if len(used) < len(helperParts) {
		t.Fatalf("found %d helper parts in the source, helperParts has %d: the pattern misses some (%q)", len(used), len(helperParts), used)
	}
}
