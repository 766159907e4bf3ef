package main

import (
	"context"
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
// would only start this one when the other stops. A db command of this
// release names itself in its side lock (queue.db.cmdlock), read
// whether or not /proc/locks is visible. A holder the system does not
// name here (pid 0: a db command of an older release or any other
// holder while the shipped units' ProcSubset=pid hides /proc/locks, or
// one in another pid namespace) may be another serve: refused too, in
// words that say so, never waited for without end (a unit's Restart=
// starts it again after a db command ended). A named holder that is no
// serve (an offline db restore or compact) is
// waited for as long as it runs, as the README promises: logged once,
// naming it, and under systemd the start timeout is pushed back each
// time (EXTEND_TIMEOUT_USEC), so that the unit's start is not killed
// while the command runs. A stop asked for meanwhile (ctx: SIGTERM,
// SIGINT) ends the wait at the next ask.
func waitForHolder(ctx context.Context, log *slog.Logger, path string) func(pid int, command string) error {
	logged := false
	return func(pid int, command string) error {
		if ctx.Err() != nil {
			return shownErr(fmt.Errorf("stopped while waiting for the transport database %s to be let go (pid %d)", path, pid), path)
		}
		if strings.Contains(" "+command+" ", " serve ") {
			return shownErr(fmt.Errorf("transport database %s is held by another umbra serve, pid %d (%s): it runs on this data "+
				"directory, or is stopping and has not exited yet; two daemons cannot share a database: stop it "+
				"(or wait until it has exited) and start this one again", path, pid, command), path, command)
		}
		if pid == 0 {
			return shownErr(fmt.Errorf("transport database %s is held by a process the system does not name here (a unit with "+
				"ProcSubset=pid hides /proc/locks, or it runs in another pid namespace; it is no db command of this "+
				"release, which names itself): if it is another umbra serve, "+
				"two daemons cannot share a database — stop it; if it is a db restore or compact, start umbra again "+
				"when it has ended (the units' Restart=on-failure does, every 5 s)", path), path)
		}
		if !logged {
			logged = true
			log.Warn(fmt.Sprintf("transport database held by pid %d (%s); waiting for it to end (a db restore or compact) before opening it", pid, command),
				"path", path, "pid", pid)
		}
		// Twice the time until the next ask: a late ask does not let
		// the start timeout run out in between.
		systemd.Notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", (2 * queue.HeldByEvery).Microseconds()))
		return nil
	}
}
