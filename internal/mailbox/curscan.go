package mailbox

import (
	"os"
	"strings"
)

// inCur reports whether the cur/ directory dir holds the delivery name,
// with or without its info (name, or name:INFO), reading its names 256
// at a time (no stat, no sort, no entry value: one string per name) and
// stopping at the first match. What it holds at once is one batch,
// whatever the number of messages in the mailbox (the check runs per
// recipient). The same code on every system: the directory's records are
// decoded by the runtime, in the machine's byte order.
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
