//go:build !linux

package mailbox

import (
	"os"
	"strings"
)

// inCur reports whether the cur/ directory dir holds the delivery name,
// with or without its info (name, or name:INFO), reading its names in
// batches (no stat, no sort) and stopping at the first match.
func inCur(dir, name string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if rest, ok := strings.CutPrefix(n, name); ok && (rest == "" || rest[0] == ':') {
				return true
			}
		}
		if err != nil || len(names) == 0 {
			return false
		}
	}
}
