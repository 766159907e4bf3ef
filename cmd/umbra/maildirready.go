package main

import (
	"fmt"
	"os"
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
	fail := func(err error) error {
		return cfg.ErrorAt(err.Error()+"; under the shipped systemd unit (ProtectSystem=strict) a Maildir outside "+
			"/var/lib/umbra needs ReadWritePaths= in a drop-in (systemctl edit umbra-hub, or umbra-edge)", "mailbox", "maildir")
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return fail(reachError("mailbox.maildir", root, err)) // pathreach.go
	}
	if err := syscall.Access(root, 0x2|0x1); err != nil { // W_OK|X_OK
		return fail(fmt.Errorf("mailbox.maildir %s: this process (user %s, group %s) may not create files there: %w",
			root, queue.UserName(os.Geteuid()), queue.GroupName(os.Getegid()), err))
	}
	return nil
}
