package main

import (
	"fmt"
	"log/slog"
	"strings"

	"umbra/internal/queue"
	"umbra/internal/systemd"
)

// waitForHolder is serve's answer to a transport database another
// process holds past the first wait (queue.Options.HeldBy, rt25c F1).
// Another umbra serve — running, or stopping and not gone yet — is
// refused at once: two daemons never share a database, and waiting
// would only start this one when the other stops. An offline db
// command (restore, compact) is waited for as long as it runs, as the
// README promises: logged once, naming it, and under systemd the start
// timeout is pushed back each time (EXTEND_TIMEOUT_USEC), so that the
// unit's start is not killed while the command runs.
func waitForHolder(log *slog.Logger, path string) func(pid int, command string) error {
	logged := false
	return func(pid int, command string) error {
		if strings.Contains(" "+command+" ", " serve ") {
			return fmt.Errorf("transport database %s is held by another umbra serve, pid %d (%s): it runs on this data "+
				"directory, or is stopping and has not exited yet; two daemons cannot share a database: stop it "+
				"(or wait until it has exited) and start this one again", path, pid, command)
		}
		if !logged {
			logged = true
			who := "another process (not named by the system)"
			if pid != 0 {
				who = fmt.Sprintf("pid %d (%s)", pid, command)
			}
			log.Warn("transport database held by "+who+"; waiting for it to end (a db restore or compact) before opening it",
				"path", path, "pid", pid)
		}
		// Twice the time until the next ask: a late ask does not let
		// the start timeout run out in between.
		systemd.Notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", (2 * queue.HeldByEvery).Microseconds()))
		return nil
	}
}
