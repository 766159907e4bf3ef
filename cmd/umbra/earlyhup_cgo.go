//go:build cgo && linux

package main

// A SIGHUP in the first tens of milliseconds of umbra serve ended the
// process (rt24c F4): its default action holds until signal.Notify, and
// the Go runtime and every package's init run first (serveHUP's init is
// the main package's, the last). A death by SIGHUP is a clean exit for
// systemd's Restart=on-failure, and a SIGHUP comes whatever the unit's
// state (an operator's kill -HUP, or the postrotate of a logrotate file
// copied from an earlier release; the shipped one sends none). This constructor runs before the Go
// runtime, right after the dynamic loader: for umbra serve it sets
// SIGHUP to be ignored, which the runtime keeps (it respects an
// inherited SIG_IGN for SIGHUP) until serveHUP's signal.Notify takes
// it. A SIGHUP in between asks for nothing the start does not do
// anyway: no file has been read, no log or socket opened yet.
//
// The window is narrowed, not closed (rt25c F3): between exec and this
// constructor the kernel maps the binary and the dynamic loader maps
// and relocates libc, milliseconds on a loaded machine, and a SIGHUP
// then still has its default action. Nothing in the process runs
// before the loader, so no userland code can close it; the exec'ing
// parent could, by starting umbra with SIGHUP ignored (an ignored
// disposition survives exec). systemd never sends one there: a
// `systemctl reload` queued during the start job waits for it (and
// ExecReload needs $MAINPID's service active); only a raw kill -HUP
// of a pid just exec'd can. The
// arguments come from /proc/self/cmdline, which every libc has (musl
// gives a constructor no argv). Without cgo (CGO_ENABLED=0) the window
// until serveHUP's init stays.

/*
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void umbra_serve_takes_hup(void) {
	char buf[4096];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = 0, r;
	while (n < (ssize_t)sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) > 0)
		n += r;
	close(fd);
	if (n <= 0)
		return;
	if (n == (ssize_t)sizeof buf)
		n--; // cut: the last argument may be partial; never read past it
	buf[n] = 0;
	char *p = buf + strlen(buf) + 1; // after argv[0]
	while (p < buf + n) {
		if (strcmp(p, "serve") == 0) {
			signal(SIGHUP, SIG_IGN);
			return;
		}
		p += strlen(p) + 1;
	}
}
*/
import "C"
