package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// maildirReady makes the Maildir tree's root (mailbox.maildir) and
// checks that this process may create files in it, as serve makes the
// data directory, the tracking log's directory and the pickup directory
// it writes: a root it cannot make or write (a path under /proc, a
// directory of another user, a read-only mount — under the shipped
// systemd units, ProtectSystem=strict, every path outside their
// ReadWritePaths=) is refused at the setting's line, at the start before
// anything is opened and at a reload that moves it, instead of every
// local delivery deferring with the cause in the log alone. The check is
// the kernel's answer for this process (access(2) with W_OK|X_OK, which
// sees a read-only mount too), not the mode bits read.
func maildirReady(cfg *config.Config) error {
	root := cfg.Mailbox.Maildir
	if root == "" {
		return nil
	}
	if err := dirWritable("mailbox.maildir", root, true); err != nil {
		return maildirRefused(cfg, err)
	}
	return nil
}

// maildirRefused is a refusal of mailbox.maildir at its line, with the
// systemd note.
func maildirRefused(cfg *config.Config, err error) error {
	return cfg.ErrorAt(err.Error()+"; under the shipped systemd unit (ProtectSystem=strict) a Maildir outside "+
		"/var/lib/umbra needs ReadWritePaths= in a drop-in (systemctl edit umbra-hub, or umbra-edge)", "mailbox", "maildir")
}

// dirWritable is the start's check of a directory it writes (what:
// "mailbox.maildir", "data directory", …): with mk, it makes path
// (os.MkdirAll) and asks the kernel whether this process may create
// files in it; without, for config check, it makes nothing and leaves
// nothing behind, yet meets what making it would meet: an existing path
// is asked as with mk, and for a missing one a probe directory is made
// and removed at once in its nearest existing ancestor (a mkdir under
// /proc, /sys or a read-only mount fails there as the start's would; a
// mode check would pass for root), the error said of the first missing
// name, as the start's mkdir says it.
func dirWritable(what, path string, mk bool) error {
	if mk {
		if err := os.MkdirAll(path, 0o750); err != nil {
			return reachError(what, path, err) // pathreach.go
		}
	} else if missing, err := firstMissing(path); err != nil {
		return reachError(what, path, err)
	} else if missing != "" {
		probe := filepath.Join(filepath.Dir(missing), fmt.Sprintf(".umbra-config-check-%d", os.Getpid()))
		if err := os.Mkdir(probe, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = &fs.PathError{Op: "mkdir", Path: missing, Err: pe.Err}
			}
			return reachError(what, path, err)
		}
		os.Remove(probe)
		return nil
	}
	if err := syscall.Access(path, 0x2|0x1); err != nil { // W_OK|X_OK
		return fmt.Errorf("%s %s: this process (user %s, group %s) may not create files there: %w",
			what, path, queue.UserName(os.Geteuid()), queue.GroupName(os.Getegid()), err)
	}
	return nil
}

// firstMissing is the outermost name of path that does not exist ("" when
// path exists), or the error that kept it from being known. A file on
// the way is the configuration's refusal (PathFaults), not this one's:
// "" then, as for an existing path.
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
			return "", nil
		case err == nil:
			return missing, nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
		missing = p
		if p == filepath.Dir(p) {
			return "", nil
		}
	}
}

// startDirsRefused is what config check finds of the directories serve
// makes and writes at its start, before it opens anything (the Maildir
// root, the data directory, the tracking log's directory, the pickup
// directory), each at its setting's line, without making any
// (dirWritable): a configuration config check passes is not refused by
// the start for a directory it may not make or write there (rt30c F1).
// The reload checks the Maildir it moves to itself (maildirReady).
func startDirsRefused(cfg *config.Config) config.Errors {
	var errs config.Errors
	at := func(keys ...any) []any {
		if cfg.Written(keys...) {
			return keys
		}
		return []any{"server", "data_dir"} // a default under it
	}
	dataErr := dirWritable("data directory", cfg.Server.DataDir, false)
	if md := cfg.Mailbox.Maildir; md != "" && (dataErr == nil || !pathUnder(md, cfg.Server.DataDir)) {
		if err := dirWritable("mailbox.maildir", md, false); err != nil {
			errs = append(errs, maildirRefused(cfg, err).(*config.Error))
		}
	}
	if dataErr != nil {
		errs = append(errs, cfg.ErrorAt(dataErr.Error(), "server", "data_dir"))
	}
	if cfg.Tracking.Enabled && cfg.Tracking.Path != "" {
		dir := filepath.Dir(cfg.Tracking.Path)
		if dataErr == nil || !pathUnder(dir, cfg.Server.DataDir) {
			if err := dirWritable("tracking log directory", dir, false); err != nil {
				errs = append(errs, cfg.ErrorAt(err.Error(), at("tracking", "path")...))
			}
		}
	}
	if dir := cfg.Pickup.Directory; dir != "" && (dataErr == nil || !pathUnder(dir, cfg.Server.DataDir)) {
		if err := dirWritable("pickup directory", dir, false); err != nil {
			errs = append(errs, cfg.ErrorAt(err.Error(), "pickup", "directory"))
		}
	}
	return errs
}
