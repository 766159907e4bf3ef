package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
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
	mu   sync.Mutex
	l    net.Listener
	sock string
	gen  int // moveTo's and close's count: a retry of an older one stops
}

// startMarkRetry is how often, and startMarkRetries how many times, a
// start whose mark's name is taken tries to take it again (rr24 F3): the
// daemon before it holds the name with "stopping" until it exits, a
// moment; the retries end when the database is locked (close).
const (
	startMarkRetry   = 50 * time.Millisecond
	startMarkRetries = 1200 // a minute
)

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
	if m == nil || sock == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sock == m.sock {
		return
	}
	m.closeLocked()
	m.sock = sock
	gen := m.gen
	if l, err := admin.ListenStarting(sock); err == nil {
		m.l = l
		return
	}
	// The name is taken: the daemon before this one ends its stop (its
	// "stopping" mark until it exits), or another daemon starts with this
	// socket (one of the two is refused at the database's lock). Taken
	// again once free, until the database is locked (rr24 F3): a start
	// after a stop is not "not running" meanwhile.
	// Before the configuration is loaded: no metrics yet, so a panic
	// (a defect) is recovered and said on stderr (helperpanic.go); the
	// mark's lock is unlocked by defer, so close still runs.
	(*guard)(nil).goRun("start_mark", func() {
		for i := 0; i < startMarkRetries; i++ {
			time.Sleep(startMarkRetry)
			if m.retryMark(gen, sock) {
				return
			}
		}
	})
}

// retryMark takes the mark's socket again, unless the mark moved or
// closed since (gen); it reports whether the retries are over.
func (m *startMark) retryMark(gen int, sock string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != gen {
		return true
	}
	l, err := admin.ListenStarting(sock)
	if err != nil {
		return false
	}
	m.l = l
	return true
}

// close ends the mark (and its retries): the database is locked (or the
// process ends).
func (m *startMark) close() {
	if m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.closeLocked()
	}
}

func (m *startMark) closeLocked() {
	m.gen++
	if m.l != nil {
		m.l.Close()
	}
	m.l, m.sock = nil, ""
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
// admin socket closed at its stop, before its database is closed,
// UMBRA_TEST_HOLD_RESTORE in db restore once it holds its lock, before
// it reads the backup, UMBRA_TEST_HOLD_BACKUP in a running daemon's
// backup once its request is taken, before a byte of the copy is sent
// (heldBackups in serve.go) — made to last for a test (startingcli_test.go,
// restorerace_test.go, backupkilledrequest_test.go). Unset in umbra's
// use: nothing is held.
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
