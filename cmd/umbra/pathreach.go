package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"umbra/internal/queue"
)

// reachError is the start's refusal of a directory it must make or
// enter (what: "data directory", "tracking log directory", "pickup
// directory") that err, from making it, says it may not: when a
// directory on the way to path does not let this process through (no
// search permission for it), the refusal names that directory, its
// owner and mode and the fix, not the mkdir that was denied below it
// (rt18c-F3: "mkdir …/a: permission denied" for a data directory that
// existed under a parent of mode 0750 of root). Any other error is
// returned as it is, named by what.
func reachError(what, path string, err error) error {
	if blocked := blockedError(what, path, err); blocked != nil {
		return blocked
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// blockedError is reachError's refusal naming the directory that does
// not let this process through, nil when err is no permission error or
// no directory on the way blocks it (then err is the mkdir's own).
func blockedError(what, path string, err error) error {
	if !errors.Is(err, fs.ErrPermission) {
		return nil
	}
	abs, aerr := filepath.Abs(path)
	if aerr != nil {
		return nil
	}
	if blocked := untraversable(abs); blocked != "" {
		owner := ""
		if o, ok := queue.OwnerText(blocked); ok {
			owner = " (owned by " + o + ")"
		}
		return fmt.Errorf("%s %s: this process (user %s, group %s) may not pass through %s%s on the way to it: "+
			"it needs search (x) permission there. Let it through: chmod o+x %s (or give that directory to the group "+
			"umbra runs as, with g+x) (%v)", what, path, queue.UserName(os.Geteuid()), queue.GroupName(os.Getegid()),
			blocked, owner, blocked, err)
	}
	return nil
}

// untraversable is the first directory on the way down to abs that this
// process may not pass through — looking up a name in it is denied —
// "" when there is none.
func untraversable(abs string) string {
	var chain []string
	for p := abs; ; p = filepath.Dir(p) {
		chain = append([]string{p}, chain...)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := 0; i+1 < len(chain); i++ {
		_, err := os.Lstat(chain[i+1])
		switch {
		case errors.Is(err, fs.ErrPermission):
			return chain[i]
		case err != nil:
			return "" // missing below here: nothing further to pass through
		}
	}
	return ""
}
