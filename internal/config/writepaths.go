package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"umbra/internal/leftover"
)

// A place umbra writes must never be a file umbra reads or owns
// otherwise, nor hold one: the tracking log appended into queue.db and
// its rotation renamed the live database to queue.db.1 (rt45 F2); over
// recipients.file or the configuration it destroyed them. The places
// umbra writes are the tracking log and its rotations (which hold the
// audit lines too: there is no other audit log), the Maildir tree (mail
// is delivered into it), the pickup directory (its files are submitted,
// renamed and removed) and the spool directory (bodies are written and
// removed there; the transport database beside it holds the queue, the
// dumpsters and every other record: no file of their own). So:
//   - no file umbra reads (the configuration, every file setting) or
//     owns (the database, the peer wait slot file, the admin socket) is
//     a written file or lies inside a written directory (the reverse
//     direction: a recipients file inside the spool);
//   - no written place is, holds or lies inside another (the tracking
//     log inside the Maildir tree, the pickup directory inside the
//     spool, the Maildir tree holding the database).
// Names are compared after relative paths and symbolic links are
// resolved, and by the file itself (a hard link) where both exist. A
// hard link of a file inside a written directory is not found: that
// would take reading the directory.

// placeKind is how umbra uses a place.
type placeKind int

const (
	placeRead    placeKind = iota // read, or owned by another part (the database)
	placeLog                      // the tracking log: appended to, renamed at rotation
	placeWritten                  // a directory umbra writes and removes files in
)

// place is a file or directory of the configuration: its name, how an
// error names it, where an error about it goes and how umbra uses it.
type place struct {
	name, what string
	dir        bool
	kind       placeKind
	at         []any // the setting it comes from; nil: none (the configuration file)
	derived    bool  // at is the setting it is derived from (data_dir), not its own
	why        string
	log        int // the tracking log: its rotation (0: the log itself)
	// prefix: every name in name's directory that begins with its last
	// name (and has more) is this place (a backup's snapshots).
	prefix bool
	// removed: a start removes it (leftover.Beside): that is why it
	// cannot be another place.
	removed bool
}

// leftoverWhat names each kind of leftover.Beside in an error.
var leftoverWhat = map[leftover.Kind]string{
	leftover.Snapshot:    "a snapshot of a backup",
	leftover.Compact:     "a file of db compact or db restore",
	leftover.Restore:     "a file of db compact or db restore",
	leftover.AsideSuffix: "a file of db compact or db restore",
	leftover.Staging:     "the directory db restore stages spool files in",
	leftover.PeerWait:    "the peer-wait marker directory of an older release",
	// db restore and db compact lock it from their first step, serve
	// while it opens the database; each removes it (queue: cmdlock.go).
	leftover.CmdLock: "the db commands' side lock",
}

// names reports whether the place p is the file name: its own name, or
// (prefix) a name in its directory that begins with its last name.
func (p place) names(name string) bool {
	if !p.prefix {
		return SameFile(name, p.name)
	}
	return p.namedBy(filepath.Base(name)) && SameFile(filepath.Dir(name), filepath.Dir(p.name))
}

// namedBy reports whether base is p's last name, or (prefix) begins
// with it and has more.
func (p place) namedBy(base string) bool {
	own := filepath.Base(p.name)
	if p.prefix {
		return len(base) > len(own) && strings.HasPrefix(base, own)
	}
	return base == own
}

// shownPlace is how an error names p: a prefix as the names it begins.
func shownPlace(p place) string {
	if p.prefix {
		return p.name + "…"
	}
	return p.name
}

const (
	whyLog     = "the tracking log must be a file of its own (it is appended to and renamed at rotation), never a file umbra reads or owns"
	whyLogIn   = "the tracking log must be a file of its own, outside the files umbra reads or owns and the places it writes otherwise"
	whyMaildir = "mail is delivered into the Maildir tree: it must hold nothing umbra reads or owns otherwise, and lie outside every other place umbra writes"
	whyPickup  = "the files in the pickup directory are submitted, renamed and removed: it must hold nothing umbra reads or owns otherwise, and lie outside every other place umbra writes"
	whySpool   = "message bodies are written and removed in the spool directory: it holds nothing else"
)

// places are the files and directories umbra reads, owns or writes.
func places(c *Config, written func(path ...string) bool) []place {
	var out []place
	if c.File != "" {
		out = append(out, place{name: c.File, what: "the configuration file"})
	}
	var names []string
	for i, v := range walkFiles(c, func(name string) string { names = append(names, name); return " " }) {
		if settingName(v.path) == "tracking.path" {
			continue
		}
		out = append(out, place{name: names[i], what: settingName(v.path), at: v.path})
	}
	dataDir := []any{"server", "data_dir"}
	if c.Server.DataDir != "" {
		out = append(out,
			place{name: filepath.Join(c.Server.DataDir, "queue.db"), what: "the transport database", at: dataDir, derived: true},
			place{name: filepath.Join(c.Server.DataDir, "spool"), what: "the spool directory", dir: true, kind: placeWritten, at: dataDir, derived: true, why: whySpool},
			place{name: filepath.Join(c.Server.DataDir, "peerwait.slots"), what: "the peer wait slot file", at: dataDir, derived: true},
			// A ready daemon names its pid and admin socket there for the
			// commands (admin: runfile.go), written as .tmp and renamed.
			place{name: filepath.Join(c.Server.DataDir, "admin.run"), what: "the daemon's run file", at: dataDir, derived: true},
			place{name: filepath.Join(c.Server.DataDir, "admin.run.tmp"), what: "the daemon's run file", at: dataDir, derived: true})
		// What a start removes beside queue.db as what a killed backup,
		// compaction or restore (or its side lock) left: the one list the start's cleanup
		// reads too (leftover.Beside), names and beginnings of names.
		db := filepath.Join(c.Server.DataDir, "queue.db")
		for _, n := range leftover.Beside(db) {
			p := place{name: filepath.Join(c.Server.DataDir, n.Base), what: leftoverWhat[n.Kind], dir: n.Dir, prefix: n.Prefix,
				at: dataDir, derived: true, why: n.Why, removed: true}
			if n.Dir {
				p.kind = placeWritten
			}
			out = append(out, p)
		}
	}
	if c.Server.AdminSocket != "" {
		p := place{name: c.Server.AdminSocket, what: "server.admin_socket", at: []any{"server", "admin_socket"}}
		if !written("server", "admin_socket") {
			p.at, p.derived = dataDir, true
		}
		out = append(out, p)
	}
	if c.Mailbox.Maildir != "" {
		p := place{name: c.Mailbox.Maildir, what: "mailbox.maildir", dir: true, kind: placeWritten, at: []any{"mailbox", "maildir"}, why: whyMaildir}
		if !written("mailbox", "maildir") {
			p.at, p.derived = dataDir, true
		}
		out = append(out, p)
	}
	if c.Pickup.Directory != "" {
		out = append(out, place{name: c.Pickup.Directory, what: "pickup.directory", dir: true, kind: placeWritten, at: []any{"pickup", "directory"}, why: whyPickup})
	}
	if c.Tracking.Enabled && c.Tracking.Path != "" {
		at, derived := []any{"tracking", "path"}, false
		if !written("tracking", "path") {
			at, derived = dataDir, true
		}
		// Up to the range's end: a max_files past it is refused
		// (intIn), and a billion names checked one by one hung the
		// start before that refusal was said.
		for i := 0; i <= min(c.Tracking.MaxFiles, MaxTrackingFiles); i++ {
			name := c.Tracking.Path
			if i > 0 {
				name = fmt.Sprintf("%s.%d", c.Tracking.Path, i)
			}
			out = append(out, place{name: name, what: "tracking.path", kind: placeLog, at: at, derived: derived, why: whyLog, log: i})
		}
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

// SameFile reports whether a and b name one file: the same canonical
// path (absolute, symbolic links resolved), or one existing file reached
// by two names.
func SameFile(a, b string) bool {
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

// writtenFileViolations refuses every place umbra writes that is, holds
// or lies inside a place umbra reads, owns or writes otherwise: one
// error for each such pair, at the line of the setting that names the
// place inside (or, for two names of one place, the place umbra
// writes), or of the other where that one has no line of its own (the
// configuration file, a file in data_dir).
func writtenFileViolations(c *Config, written func(path ...string) bool) []violation {
	ps := places(c, written)
	var out []violation
	// First each written place against the files umbra reads or owns
	// (each file named once), then the written places against each other
	// (each pair once): a place is named in at most one error of each.
	for _, againstWriters := range []bool{false, true} {
		refused := map[int]bool{}
		for i, w := range ps {
			if w.kind == placeRead || refused[i] {
				continue
			}
			for j, o := range ps {
				if i == j || refused[j] || (o.kind != placeRead) != againstWriters ||
					(againstWriters && j < i) || (w.kind == placeLog && o.kind == placeLog) {
					continue
				}
				if v, ok := conflict(w, o); ok {
					out = append(out, v)
					refused[i], refused[j] = true, true
					break
				}
			}
		}
	}
	return out
}

// conflict is the error of w (a place umbra writes) and o (listed after
// w when umbra writes it too), when one is the other or lies inside the
// other.
func conflict(w, o place) (violation, bool) {
	switch {
	case w.names(o.name) || o.names(w.name): // a name o.prefix: a name it begins (a backup's snapshot)
		// Named as the place umbra writes; of two, the one with a line
		// of its own, the later.
		if o.kind != placeRead && !o.derived {
			w, o = o, w
		}
		why := w.why
		if o.removed {
			why = o.why // a file umbra removes: that is why it cannot be another
		}
		also := ""
		if w.name != o.name {
			also = " (" + o.name + ")"
		}
		return violation{path: blame(w, o), msg: fmt.Sprintf("%s is %s%s: %s", label(w), o.what, also, why)}, true
	case o.dir && inside(w.name, o.name):
		return placedInside(w, o), true
	case w.dir && inside(o.name, w.name):
		return placedInside(o, w), true
	}
	return violation{}, false
}

// placedInside is the error of in lying inside the directory dir (one of
// them a place umbra writes), at in's line or else at dir's.
func placedInside(in, dir place) violation {
	why := dir.why
	if dir.kind == placeRead {
		why = in.why
	}
	if in.kind == placeLog {
		why = whyLogIn
	}
	if dir.removed {
		why = dir.why
	}
	if in.at != nil && !in.derived || dir.at == nil || dir.derived && in.at != nil {
		return violation{path: in.at, msg: fmt.Sprintf("%s is inside %s %s: %s", label(in), dir.what, dir.name, why)}
	}
	return violation{path: dir.at, msg: fmt.Sprintf("%s %s holds %s %s: %s", dir.what, dir.name, in.what, in.name, why)}
}

// blame is where the error of two names of one place goes: w's line,
// else o's.
func blame(w, o place) []any {
	if w.at != nil {
		return w.at
	}
	return o.at
}

// label names p in an error: its setting and name; a rotation of the
// tracking log as such.
func label(p place) string {
	if p.kind == placeLog && p.log > 0 {
		base := strings.TrimSuffix(p.name, fmt.Sprintf(".%d", p.log))
		return fmt.Sprintf("%s %s: its rotation %s", p.what, base, p.name)
	}
	return p.what + " " + p.name
}

// WriteConflict says why a command may not create the file name (a DKIM
// key, an exported message): it lies inside a place umbra writes (the
// spool, the Maildir tree, the pickup directory, where it would be
// removed, renamed or submitted with the mail), or it is a file umbra
// reads, owns or writes itself; nil when it is none of these. The same
// judgement as the configuration's own places get (writtenFileViolations).
func (c *Config) WriteConflict(name string) error {
	if c == nil {
		return nil
	}
	if err := c.rotationConflict(name, func(dir string) bool { return SameFile(filepath.Dir(name), dir) }); err != nil {
		return err
	}
	written := func(path ...string) bool { return c.doc != nil && keyWritten(c.doc, path...) }
	for _, p := range places(c, written) {
		switch {
		case p.dir && (inside(name, p.name) || SameFile(name, p.name)):
			return fmt.Errorf("%s is inside %s %s: %s", name, p.what, p.name, p.why)
		case !p.dir && p.names(name) && p.why != "":
			return fmt.Errorf("%s is %s (%s): %s", name, p.what, shownPlace(p), p.why)
		case !p.dir && p.names(name):
			return fmt.Errorf("%s is %s (%s): umbra reads, owns or writes it", name, p.what, p.name)
		}
	}
	return nil
}

// rotationConflict refuses name when it is a rotation name of the
// tracking log: tracking.path's name and "." and a number, in its
// directory (inDir). One up to tracking.max_files is a rotation of it,
// said so, never "is tracking.path" with the rotation's name; a larger
// number is refused too, since raising max_files would rotate the log
// over it (tracking.log.11 with max_files 10).
func (c *Config) rotationConflict(name string, inDir func(dir string) bool) error {
	if !c.Tracking.Enabled || c.Tracking.Path == "" {
		return nil
	}
	log := c.Tracking.Path
	n, ok := strings.CutPrefix(filepath.Base(name), filepath.Base(log)+".")
	// A number as rotation writes one: decimal, no leading zero
	// (tracking.log.011 is never one).
	if !ok || n == "" || n[0] == '0' || strings.Trim(n, "0123456789") != "" || !inDir(filepath.Dir(log)) {
		return nil
	}
	if i, err := strconv.Atoi(n); err == nil && i <= c.Tracking.MaxFiles {
		return fmt.Errorf("%s is a rotation of tracking.path %s (tracking.max_files %d): %s", name, log, c.Tracking.MaxFiles, whyLog)
	}
	return fmt.Errorf("%s is a rotation name of tracking.path %s: a tracking.max_files raised from %d would rotate the log onto it; %s",
		name, log, c.Tracking.MaxFiles, whyLog)
}

// WriteConflictHeld is WriteConflict of name judged on its directory as
// the command holds it open (rr-dbfix30 F3): a path judged before the
// command opened its directory may lead elsewhere by then (the
// directory moved and a link put at its name). depth tells whether the
// held directory is the directory dir (0) or lies below it (the levels
// between), -1 when neither, by device and inode (queue.HeldDepth). A
// directory place refuses every name in it or below it; a file place
// the name it has in its own directory.
func (c *Config) WriteConflictHeld(name string, depth func(dir string) int) error {
	if c == nil {
		return nil
	}
	if err := c.rotationConflict(name, func(dir string) bool { return depth(dir) == 0 }); err != nil {
		return err
	}
	written := func(path ...string) bool { return c.doc != nil && keyWritten(c.doc, path...) }
	base := filepath.Base(name)
	for _, p := range places(c, written) {
		switch {
		case p.dir && depth(p.name) >= 0:
			return fmt.Errorf("%s is inside %s %s: %s", name, p.what, p.name, p.why)
		case !p.namedBy(base) || depth(filepath.Dir(p.name)) != 0:
		case p.dir:
			return fmt.Errorf("%s is %s %s: %s", name, p.what, p.name, p.why)
		case p.why != "":
			return fmt.Errorf("%s is %s (%s): %s", name, p.what, shownPlace(p), p.why)
		default:
			return fmt.Errorf("%s is %s (%s): umbra reads, owns or writes it", name, p.what, p.name)
		}
	}
	return nil
}
