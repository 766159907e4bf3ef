package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
)

// startMark makes umbra serve known as starting from its first moment
// until its transport database is locked (admin.ListenStarting,
// internal/admin/startmark.go): a command meanwhile says "starting",
// exit 75, not "not running" (ops24 1). The database's lock says so
// from then on (queue.LockHolder).
type startMark struct {
	l    net.Listener
	sock string
}

// markStarting starts the mark for the admin socket of the
// configuration file named (--config, $UMBRA_CONFIG), read leniently
// (config.AdminSocketOf: only data_dir and admin_socket) before the file
// is loaded and checked; without a file the embedded default's socket
// is marked once it is loaded (moveTo).
func markStarting(cmd *cobra.Command) *startMark {
	m := &startMark{}
	if file := configNamed(cmd); file != "" {
		m.moveTo(config.AdminSocketOf(file))
	}
	return m
}

// moveTo marks the daemon as starting with the admin socket sock: the
// socket of the configuration as loaded, where the lenient read named
// another (or none).
func (m *startMark) moveTo(sock string) {
	if m == nil || sock == "" || sock == m.sock {
		return
	}
	m.close()
	// A name taken (another daemon starting with this socket: one of the
	// two is refused at the database's lock) leaves this one unmarked.
	if l, err := admin.ListenStarting(sock); err == nil {
		m.l, m.sock = l, sock
	}
}

// close ends the mark: the database is locked (or the process ends).
func (m *startMark) close() {
	if m != nil && m.l != nil {
		m.l.Close()
		m.l, m.sock = nil, ""
	}
}

type startMarkKey struct{}

func withStartMark(ctx context.Context, m *startMark) context.Context {
	return context.WithValue(ctx, startMarkKey{}, m)
}

// databaseLocked ends ctx's start mark: the transport database's lock
// tells a starting daemon from now on.
func databaseLocked(ctx context.Context) {
	if m, _ := ctx.Value(startMarkKey{}).(*startMark); m != nil {
		m.close()
	}
}

// holdForTest holds umbra serve while the file the environment
// variable env names exists (at most a minute), writing its pid into it
// first: UMBRA_TEST_HOLD_START in its configuration check (what a large
// configuration's check does in time), UMBRA_TEST_HOLD_STOP after its
// admin socket closed at its stop, before its database is closed — made
// to last for a test (startingcli_test.go). Unset in umbra's use:
// nothing is held.
func holdForTest(env string) {
	path := os.Getenv(env)
	if path == "" {
		return
	}
	if os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o600) != nil {
		return
	}
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err != nil {
			return
		}
	}
}

// markStopping makes the process known as stopping from the start of
// its drain until it exits (admin.ListenStopping): after its admin
// socket closes it still holds its transport database a moment, and a
// command would have said "starting" of it. The listener is never
// closed: the process's exit ends it.
func markStopping(sock string) {
	_, _ = admin.ListenStopping(sock)
}
