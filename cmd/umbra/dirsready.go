package main

import (
	"fmt"
	"os"
	"path/filepath"
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
func dirReady(cfg *config.Config, d writtenDir) error {
	shown, in := d.setting+" "+d.dir, ""
	switch d.setting {
	case "tracking.path":
		shown, in = d.setting+" "+cfg.Tracking.Path, " (in "+d.dir+")"
	case "server.admin_socket":
		shown, in = d.setting+" "+cfg.Server.AdminSocket, " (in "+d.dir+")"
	}
	fail := func(err error) error {
		return cfg.ErrorAt(err.Error()+"; under the shipped systemd unit (ProtectSystem=strict) a directory outside "+
			"/var/lib/umbra needs ReadWritePaths= in a drop-in (systemctl edit umbra-hub, or umbra-edge)", d.at...)
	}
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return fail(reachError(shown, d.dir, err)) // pathreach.go
	}
	if err := syscall.Access(d.dir, 0x2|0x1); err != nil { // W_OK|X_OK
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
// whole reload for it.
func movedDirsReady(cur, next *config.Config) error {
	was := map[string]string{}
	for _, d := range writtenDirs(cur) {
		was[d.setting] = d.dir
	}
	for _, d := range writtenDirs(next) {
		if was[d.setting] == d.dir || d.setting == "server.admin_socket" {
			continue
		}
		if err := dirReady(next, d); err != nil {
			return err
		}
	}
	return nil
}
