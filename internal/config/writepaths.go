package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A file umbra writes (the tracking log and its rotations) must never be
// a file umbra reads or owns otherwise: the log appended into queue.db
// and its rotation renamed the live database to queue.db.1 (rt45 F2);
// over recipients.file or the configuration it destroyed them. Names
// are compared after relative paths and symbolic links are resolved,
// and by the file itself (a hard link) where both exist.

// ownedFile is a file umbra reads or owns, and how an error names it.
type ownedFile struct {
	name, what string
	dir        bool // a directory: every file inside it is owned too
}

// ownedFiles are the files umbra reads or owns besides what it writes:
// the configuration, every file setting (walkFiles), the transport
// database, its spool directory, the peer wait slot file and the admin
// socket.
func ownedFiles(c *Config) []ownedFile {
	var out []ownedFile
	if c.File != "" {
		out = append(out, ownedFile{name: c.File, what: "the configuration file"})
	}
	var names []string
	for i, v := range walkFiles(c, func(name string) string { names = append(names, name); return " " }) {
		if settingName(v.path) == "tracking.path" {
			continue
		}
		out = append(out, ownedFile{name: names[i], what: settingName(v.path)})
	}
	if c.Server.DataDir != "" {
		out = append(out,
			ownedFile{name: filepath.Join(c.Server.DataDir, "queue.db"), what: "the transport database"},
			ownedFile{name: filepath.Join(c.Server.DataDir, "spool"), what: "the spool directory", dir: true},
			ownedFile{name: filepath.Join(c.Server.DataDir, "peerwait.slots"), what: "the peer wait slot file"})
	}
	if c.Server.AdminSocket != "" {
		out = append(out, ownedFile{name: c.Server.AdminSocket, what: "server.admin_socket"})
	}
	return out
}

// canonicalPath is p absolute with every symbolic link of its existing
// part resolved (a name not there yet keeps its last elements).
func canonicalPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	parent := filepath.Dir(abs)
	if parent == abs {
		return abs
	}
	return filepath.Join(canonicalPath(parent), filepath.Base(abs))
}

// sameFile reports whether a and b name one file: the same canonical
// path, or one existing file reached by two names.
func sameFile(a, b string) bool {
	if canonicalPath(a) == canonicalPath(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// inside reports whether p is inside the directory dir (canonically).
func inside(p, dir string) bool {
	rel, err := filepath.Rel(canonicalPath(dir), canonicalPath(p))
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// writtenFileViolations refuses, at tracking.path (or data_dir where
// the log is its default there), a tracking log or one of its rotations
// that is a file umbra reads or owns otherwise.
func writtenFileViolations(c *Config, written func(path ...string) bool) []violation {
	if !c.Tracking.Enabled || c.Tracking.Path == "" {
		return nil
	}
	at := []any{"tracking", "path"}
	if !written("tracking", "path") {
		at = []any{"server", "data_dir"}
	}
	owned := ownedFiles(c)
	log := c.Tracking.Path
	for i := 0; i <= c.Tracking.MaxFiles; i++ {
		name, whose := log, ""
		if i > 0 {
			name = fmt.Sprintf("%s.%d", log, i)
			whose = fmt.Sprintf(": its rotation %s", name)
		}
		for _, o := range owned {
			switch {
			case o.dir && (inside(name, o.name) || sameFile(name, o.name)):
				return []violation{{path: at, msg: fmt.Sprintf("tracking.path %s%s is inside %s %s: the tracking log must be a file of its own, outside the files umbra reads or owns",
					log, whose, o.what, o.name)}}
			case !o.dir && sameFile(name, o.name):
				also := ""
				if name != o.name {
					also = " (" + o.name + ")"
				}
				return []violation{{path: at, msg: fmt.Sprintf("tracking.path %s%s is %s%s: the tracking log must be a file of its own (it is appended to and renamed at rotation), never a file umbra reads or owns",
					log, whose, o.what, also)}}
			}
		}
	}
	return nil
}
