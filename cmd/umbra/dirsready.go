package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// writtenDir is a directory the configuration names that umbra creates
// files in: the setting's name, the directory, and where the setting is
// (its own line, or data_dir's for a path derived from it).
type writtenDir struct {
	setting, dir string
	at           []any
}

// writtenDirs are the directories the configuration names that serve
// writes beside the data directory itself: the Maildir tree's root, the
// pickup directory (files renamed and removed in it, its lock file), the
// admin socket's directory (the socket made there) and the tracking
// log's directory (the log made, rotated by rename there).
func writtenDirs(cfg *config.Config) []writtenDir {
	var out []writtenDir
	if cfg.Mailbox.Maildir != "" {
		out = append(out, writtenDir{"mailbox.maildir", cfg.Mailbox.Maildir, []any{"mailbox", "maildir"}})
	}
	if cfg.Pickup.Directory != "" {
		out = append(out, writtenDir{"pickup.directory", cfg.Pickup.Directory, []any{"pickup", "directory"}})
	}
	if cfg.Server.AdminSocket != "" {
		at := []any{"server", "admin_socket"}
		if !cfg.Written(at...) {
			at = []any{"server", "data_dir"} // the default socket is data_dir's
		}
		out = append(out, writtenDir{"server.admin_socket", filepath.Dir(cfg.Server.AdminSocket), at})
	}
	if cfg.Tracking.Enabled && cfg.Tracking.Path != "" {
		at := []any{"tracking", "path"}
		if !cfg.Written(at...) {
			at = []any{"server", "data_dir"} // the default path is data_dir's
		}
		out = append(out, writtenDir{"tracking.path", filepath.Dir(cfg.Tracking.Path), at})
	}
	return out
}

// dirsReady makes each written directory (writtenDirs) and checks that
// this process may create files in it, as serve makes the data
// directory: a directory it cannot make or write (a path under /proc, a
// directory of another user, a read-only mount — under the shipped
// systemd units, ProtectSystem=strict, every path outside their
// ReadWritePaths=) is refused at the setting's line, at the start before
// anything is opened and at a reload that moves it, instead of every
// local delivery deferring, every pickup file staying or every tracking
// log rotation failing with the cause in the log alone. The check is the
// kernel's answer for this process (access(2) with W_OK|X_OK, which sees
// a read-only mount too), not the mode bits read. inData chooses the
// directories inside the data directory (true) or the others (false):
// one inside waits for the database's open, so that a data directory of
// another user is said as such, not as a directory this user may not
// write, and a refused start outside it leaves no data directory behind.
func dirsReady(cfg *config.Config, inData bool) error {
	for _, d := range writtenDirs(cfg) {
		if pathUnder(d.dir, cfg.Server.DataDir) != inData {
			continue
		}
		if err := dirReady(cfg, d); err != nil {
			return err
		}
	}
	return nil
}

// dirReady is dirsReady's check of one directory.
func dirReady(cfg *config.Config, d writtenDir) error { return dirCheck(cfg, d, true) }

// dirCheck is dirReady; without mk, for config check, it makes nothing
// and leaves nothing behind, yet meets what making the directory would
// meet: an existing one is asked as by the start (access(2)), and for a
// missing one a probe directory is made and removed at once in its
// nearest existing parent (a mkdir under /proc, /sys or on a read-only
// mount fails there as the start's would, where a mode check would pass
// for root), its error said of the first missing name, in the start's
// words.
func dirCheck(cfg *config.Config, d writtenDir, mk bool) error {
	shown, in := d.setting+" "+d.dir, ""
	switch d.setting {
	case "tracking.path":
		shown, in = d.setting+" "+cfg.Tracking.Path, " (in "+d.dir+")"
	case "server.admin_socket":
		shown, in = d.setting+" "+cfg.Server.AdminSocket, " (in "+d.dir+")"
	}
	// A directory that cannot be made is named once: "mailbox.maildir
	// DIR: mkdir DIR: …", "tracking.path FILE, its directory DIR: …".
	what := d.setting
	if in != "" {
		what = shown + ", its directory"
	}
	fail := func(err error) error {
		return cfg.ErrorAt(err.Error()+"; under the shipped systemd unit (ProtectSystem=strict) a directory outside "+
			"/var/lib/umbra needs ReadWritePaths= in a drop-in (systemctl edit umbra-hub, or umbra-edge)", d.at...)
	}
	if mk {
		if err := os.MkdirAll(d.dir, 0o750); err != nil {
			return fail(reachError(what, d.dir, err)) // pathreach.go
		}
	} else if missing, err := firstMissing(d.dir); errors.Is(err, errFileOnTheWay) {
		return nil // the loader's refusal (validatePaths walks every written path's parents), said once
	} else if err != nil {
		return fail(reachError(what, d.dir, err))
	} else if missing != "" {
		// A name of its own, made exclusively (mkdir of a name not
		// there: MkdirTemp picks another when one is), and only that
		// name removed: a file or directory that was there before — of
		// any name — is another's, and stays.
		probe, err := os.MkdirTemp(filepath.Dir(missing), ".umbra-config-check-")
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = &fs.PathError{Op: "mkdir", Path: missing, Err: pe.Err}
			}
			return fail(reachError(what, d.dir, err))
		}
		os.Remove(probe)
		return nil
	}
	if err := syscall.Access(d.dir, 0x2|0x1); err != nil { // W_OK|X_OK
		var st syscall.Stat_t
		if d.setting == "data directory" && syscall.Stat(d.dir, &st) == nil && int(st.Uid) != os.Geteuid() && os.Geteuid() != 0 {
			// Another user's data directory (umbra run as root once, or
			// as another user): no unit setting helps, its owner does —
			// serve and config check say so alike (rt31c F6).
			o, _ := queue.OwnerText(d.dir)
			me, group := queue.UserName(os.Geteuid()), queue.GroupName(os.Getegid())
			return cfg.ErrorAt(fmt.Sprintf("%s: this process (user %s, group %s) may not create files there: %v; it is owned by %s. "+
				"Nothing is damaged. Give the data directory back to the user umbra runs as and start again: chown -R %s:%s %s",
				shown, me, group, err, o, me, group, d.dir), d.at...)
		}
		return fail(fmt.Errorf("%s: this process (user %s, group %s) may not create files there%s: %w",
			shown, queue.UserName(os.Geteuid()), queue.GroupName(os.Getegid()), in, err))
	}
	return nil
}

// movedDirsReady is dirReady at a reload, for each written directory
// next names and cur did not — but the admin socket's: a reload moves
// the socket itself (moveSocket), and one it cannot make leaves the
// socket where it was with an ERROR, the rest of the reload applied and
// umbra_config_restart_would_fail 1 (README), never a refusal of the
// whole reload for it. Only a directory the reload puts to use is made
// (mailbox.maildir); one of a setting that applies at a restart
// (pickup.directory, tracking.path) is checked as config check does,
// nothing made (rr-opsrt38: a reload makes nothing for a restart).
func movedDirsReady(cur, next *config.Config) error {
	was := map[string]string{}
	for _, d := range writtenDirs(cur) {
		was[d.setting] = d.dir
	}
	for _, d := range writtenDirs(next) {
		if was[d.setting] == d.dir || d.setting == "server.admin_socket" {
			continue
		}
		if err := dirCheck(next, d, d.setting == "mailbox.maildir"); err != nil {
			return err
		}
	}
	return nil
}

// firstMissing is the outermost name of path that does not exist ("" when
// path exists), or the error that kept it from being known. A file on
// the way is the loader's refusal (validatePaths, at the setting's
// line), not this one's: errFileOnTheWay then, and dirCheck says
// nothing of it.
func firstMissing(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	missing := ""
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			return "", errFileOnTheWay
		case err == nil:
			return missing, nil
		case errors.Is(err, syscall.ENOTDIR):
			return "", errFileOnTheWay
		case !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
		missing = p
		if p == filepath.Dir(p) {
			return "", nil
		}
	}
}

// errFileOnTheWay is firstMissing's answer for a path that is, or lies
// under, a file other than a directory.
var errFileOnTheWay = errors.New("a file on the way")

// startDirsRefused is what config check finds of the directories serve
// makes and writes at its start before it opens anything — the data
// directory and each written directory (writtenDirs) — each at its
// setting's line in the start's words, without making any (dirCheck):
// a configuration config check passes is not refused by the start for
// a directory it may not make or write there (rt30c F1). One inside a
// data directory refused is not refused again.
func startDirsRefused(cfg *config.Config) config.Errors {
	var errs config.Errors
	data := writtenDir{"data directory", cfg.Server.DataDir, []any{"server", "data_dir"}}
	dataErr := dirCheck(cfg, data, false)
	if dataErr != nil {
		errs = append(errs, dataErr.(*config.Error))
	}
	for _, d := range writtenDirs(cfg) {
		if dataErr != nil && pathUnder(d.dir, cfg.Server.DataDir) {
			continue
		}
		if err := dirCheck(cfg, d, false); err != nil {
			errs = append(errs, err.(*config.Error))
		}
	}
	return errs
}

// withStartDirs is f, checkConfig's refusal of a start (nil: none), with
// what startDirsRefused finds, in config check's words and order: serve
// refuses a start for every directory it may not make or write, each at
// its setting's line, in one run — as config check says them — before it
// makes or opens anything; before, it named the first written directory
// alone, and an existing data directory it may not write not at all
// (the database's open then took it for a file of another user in it:
// rt31c F6).
func withStartDirs(cfg *config.Config, f *checkFailure) *checkFailure {
	dirErrs := startDirsRefused(cfg)
	if dirErrs == nil {
		return f
	}
	var r checkReport
	if f != nil {
		r.add(f.summary, errors.New(strings.Join(f.detail, "\n")))
	}
	r.add(" names a directory this process may not make or write", dirErrs)
	return r.failure()
}
