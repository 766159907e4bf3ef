package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
)

// Exit codes of the management commands, beyond those in main.go.
const (
	exitNotFound    = 3  // no such message, queue, database id, … (each said in its own words)
	exitBusy        = 4  // the message is in delivery; try again
	exitSkipped     = 5  // dumpster resubmit: done, but some copies were not resubmitted (unreadable)
	exitUnfinished  = 75 // dumpster resubmit: stored and begun, not finished; the next start or a retry with the same id finishes it (EX_TEMPFAIL)
	exitUnavailable = 69 // the daemon does not answer (EX_UNAVAILABLE): not running, or running with its admin socket's file gone
	exitStarting    = 75 // the daemon does not answer yet: starting (or a db command runs), or stopping, its drain ended; try again (EX_TEMPFAIL)
	exitNoPerm      = 77 // not permitted: the admin socket refuses this user; --owner of another user, not root (EX_NOPERM)
)

// Where the installed daemon lives (make install, the systemd units);
// variables so that tests can point them elsewhere.
var (
	installedSocket  = "/run/umbra/admin.sock"
	installedConfigs = []string{"/etc/umbra/hub.yaml", "/etc/umbra/edge.yaml"}
)

// loadConfig reads --config, else $UMBRA_CONFIG, or the embedded default
// without either.
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	file, _ := cmd.Flags().GetString("config")
	if file == "" {
		file = os.Getenv("UMBRA_CONFIG")
	}
	if file == "" {
		return config.LoadDefault()
	}
	return config.Load(file)
}

// adminSocket finds the running daemon's admin socket: --socket, else
// $UMBRA_SOCKET, else the configuration given (--config, $UMBRA_CONFIG),
// else the installed daemon's socket when it exists, else the socket of an
// installed configuration, else the embedded default's.
//
// A file edited into an invalid state while its daemon runs (a typo in
// the middle of an incident) still names that daemon's socket: when the
// file does not load but the socket it names (read leniently:
// config.AdminSocketOf) exists, the command asks that daemon, warning
// that the file would fail the next reload (rt23c F6); when no such
// socket exists the file's error stands, with --socket named as the way
// to reach a daemon. A syntax slip (a duplicate key, an unclosed [) is
// read past too: AdminSocketOf reads the server block's lines (rt24c F5).
func adminSocket(cmd *cobra.Command) (string, error) {
	if path := socketNamed(cmd); path != "" {
		return path, nil
	}
	cfg, err := discoverConfig(cmd)
	if err == nil {
		return cfg.Server.AdminSocket, nil
	}
	file := configNamed(cmd)
	if file == "" {
		file = installedConfig()
	}
	if file != "" {
		if sock := config.AdminSocketOf(file); sock != "" {
			// A socket there, or a daemon listening on one made there
			// whose file was removed or replaced since (a regular file
			// there makes the file fail to load): the client says what
			// is, "umbra runs, but its admin socket is gone" (rt24c F2,
			// F3), not the file's error alone.
			if fi, serr := os.Stat(sock); (serr == nil && fi.Mode()&os.ModeSocket != 0) || admin.Listening(sock) {
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: warning: %s (the next reload would fail); asking the daemon on %s, the socket %s names\n", errorText(err), shown(sock), shown(file))
				return sock, nil
			}
		}
	}
	return "", &exitError{code: exitConfig, err: fmt.Errorf("%w (a running daemon is reached with --socket PATH or UMBRA_SOCKET whatever its file says)", err)}
}

// socketNamed is the admin socket found before any configuration file
// is read, in adminSocket's order: --socket, else $UMBRA_SOCKET unless
// -c/--config names a file (envSocket), else — no file named — the
// installed daemon's socket when it exists; "" when the socket must come
// from a file.
func socketNamed(cmd *cobra.Command) string {
	if path, _ := cmd.Flags().GetString("socket"); path != "" {
		return path
	}
	if path := envSocket(cmd); path != "" {
		return path
	}
	if configNamed(cmd) == "" {
		if fi, err := os.Stat(installedSocket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return installedSocket
		}
	}
	return ""
}

// envSocket is $UMBRA_SOCKET as the command uses it: "" when
// -c/--config names a file on the command line. The command line beats
// the environment for the socket as for the file (an explicit -c beats
// $UMBRA_CONFIG): `UMBRA_SOCKET=<another hub's socket> umbra -c h1.yaml
// message remove --all` acted on the other hub (ops48 F2). -c FILE
// reaches FILE's server.admin_socket unless --socket is given; a socket
// from the environment beside $UMBRA_CONFIG is checked against it
// (checkDaemonRunsNamed).
func envSocket(cmd *cobra.Command) string {
	if file, _ := cmd.Flags().GetString("config"); file != "" {
		return ""
	}
	return os.Getenv("UMBRA_SOCKET")
}

// configNamed is --config, else $UMBRA_CONFIG.
func configNamed(cmd *cobra.Command) string {
	file, _ := cmd.Flags().GetString("config")
	if file == "" {
		file = os.Getenv("UMBRA_CONFIG")
	}
	return file
}

// discoverConfig loads the configuration of the daemon the management
// commands talk to: --config, else $UMBRA_CONFIG, else an installed
// configuration (/etc/umbra: the one whose socket exists, else the first),
// else the embedded default.
func discoverConfig(cmd *cobra.Command) (*config.Config, error) {
	file := configNamed(cmd)
	if file == "" {
		file = installedConfig()
	}
	var cfg *config.Config
	var err error
	if file == "" {
		cfg, err = config.LoadDefault()
	} else {
		cfg, err = config.Load(file)
	}
	if err != nil {
		return nil, &exitError{code: exitConfig, err: err}
	}
	return cfg, nil
}

// installedConfig is the installed configuration whose daemon's admin
// socket exists (make install puts hub.yaml and edge.yaml side by side,
// each with its own socket), else the first installed file, else "".
func installedConfig() string {
	first := ""
	for _, f := range installedConfigs {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		if first == "" {
			first = f
		}
		if cfg, err := config.Load(f); err == nil {
			if fi, err := os.Stat(cfg.Server.AdminSocket); err == nil && fi.Mode()&os.ModeSocket != 0 {
				return f
			}
		}
	}
	return first
}

// adminClient connects to the running daemon's admin socket (adminSocket).
func adminClient(cmd *cobra.Command) (*admin.Client, error) {
	path, err := adminSocket(cmd)
	if err != nil {
		return nil, err
	}
	if err := socketIsDirectory(path); err != nil {
		return nil, err
	}
	c := admin.NewClient(path)
	c.SetDatabase(daemonDatabase(cmd, path))
	c.SetConfigFile(socketConfigFile(cmd))
	c.SetDefaultConfig(defaultUsed(cmd))
	if t := os.Getenv("UMBRA_ADMIN_TIMEOUT"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("UMBRA_ADMIN_TIMEOUT must be a duration like 30s or 2m: %q", t)}
		}
		c.SetTimeout(d)
	}
	if t := os.Getenv("UMBRA_ADMIN_BATCH_TIME"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("UMBRA_ADMIN_BATCH_TIME must be a duration like 1s or 500ms: %q", t)}
		}
		c.SetBatchTime(d)
	}
	// Only now is the daemon asked which file it runs: with the
	// operator's timeout, and after a bad environment was refused
	// without contacting it.
	if err := checkDaemonRunsNamed(cmd, c, path); err != nil {
		return nil, err
	}
	return c, nil
}

// defaultUsed says which default the command used when it was given no
// configuration and no socket (no --config, --socket, UMBRA_CONFIG,
// UMBRA_SOCKET): a daemon started with -c FILE is then named when none
// answers (admin: OtherServeErr, rt27c F4); "" when one was given.
func defaultUsed(cmd *cobra.Command) string {
	if s, _ := cmd.Flags().GetString("socket"); s != "" || envSocket(cmd) != "" || configNamed(cmd) != "" {
		return ""
	}
	if socketNamed(cmd) == installedSocket {
		return "the installed daemon's socket"
	}
	if f := installedConfig(); f != "" {
		return "the installed configuration " + f
	}
	return "the embedded default configuration"
}

// socketConfigFile is the configuration file the admin socket was read
// from (adminSocket): --config, $UMBRA_CONFIG or an installed one; ""
// when a socket was named (--socket, $UMBRA_SOCKET, the installed
// daemon's) or the embedded default gave it.
func socketConfigFile(cmd *cobra.Command) string {
	if socketNamed(cmd) != "" {
		return ""
	}
	if f := configNamed(cmd); f != "" {
		return f
	}
	return installedConfig()
}

// daemonDatabase is the transport database of the daemon behind the
// admin socket at socket: of the configuration the command reads, else
// (a socket named alone) the queue.db beside the socket, as umbra lays
// out its data directory; "" when neither is known.
func daemonDatabase(cmd *cobra.Command, socket string) string {
	if socketNamed(cmd) == "" {
		if cfg, err := discoverConfig(cmd); err == nil && cfg.Server.DataDir != "" {
			return filepath.Join(cfg.Server.DataDir, "queue.db")
		}
		// A file that does not load (mid-edit) still names its data
		// directory, read as leniently as its socket (adminSocket).
		file := configNamed(cmd)
		if file == "" {
			file = installedConfig()
		}
		if file != "" && config.AdminSocketOf(file) == socket {
			if dir := config.DataDirOf(file); dir != "" {
				return filepath.Join(dir, "queue.db")
			}
		}
	}
	if p := filepath.Join(filepath.Dir(socket), "queue.db"); func() bool { _, err := os.Stat(p); return err == nil }() {
		return p
	}
	return ""
}

// apiErr maps an admin API error to an exit code scripts can rely on.
func apiErr(err error) error {
	if err == nil {
		return nil
	}
	var ae *admin.APIError
	switch {
	case errors.Is(err, admin.ErrInterrupted):
		// Ctrl-C of a command run in batches (stopBatchesOnInterrupt).
		return &exitError{code: exitInterrupted, err: err}
	case errors.Is(err, admin.ErrPermission):
		// The socket refuses this user: not "not running" (rt17a F4).
		return &exitError{code: exitNoPerm, err: err}
	case errors.Is(err, admin.ErrSocketGone):
		// It runs, but no command reaches it until SIGHUP makes its
		// socket again: unavailable, not "starting" (waiting does not
		// help) and not "not running".
		return &exitError{code: exitUnavailable, err: err}
	case errors.Is(err, admin.ErrSocketElsewhere):
		// It runs and is ready at another socket than the file names
		// now (edited since its start or last reload): waiting does
		// not help; SIGHUP or --socket does (rt26c F2).
		return &exitError{code: exitUnavailable, err: err}
	case errors.Is(err, admin.ErrStopping):
		// Its drain ended, its socket closed, its database still held
		// a moment: not "starting", not yet "not running" (startmark.go).
		return &exitError{code: exitStarting, err: err}
	case errors.Is(err, admin.ErrStarting):
		// Its database held, its socket not answering yet: starting
		// (rt21c L5), not "not running" — starting it again is refused.
		return &exitError{code: exitStarting, err: err}
	case errors.Is(err, admin.ErrNotAdminSocket):
		// The path given is no socket, or another program's: the wrong
		// path, as one that is a directory (socketIsDirectory), not
		// umbra not running (rt33c F4).
		return &exitError{code: exitUsage, err: err}
	case errors.Is(err, admin.ErrUnavailable), errors.Is(err, admin.ErrStopped):
		// Not running, or stopped during the command: not running now.
		return &exitError{code: exitUnavailable, err: err}
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return &exitError{code: exitNotFound, err: err}
	case errors.As(err, &ae) && ae.Status == http.StatusConflict:
		return &exitError{code: exitBusy, err: err}
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		return &exitError{code: exitUsage, err: err}
	}
	return &exitError{code: exitFailure, err: err}
}

func wantJSON(cmd *cobra.Command) bool {
	j, _ := cmd.Flags().GetBool("json")
	return j
}

func printJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// orDash is a table field: s made safe for a terminal (termSafe), or
// "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return termSafe(s)
}

// truncDash is trunc, or "-" when s is empty: a field escaped once
// (termSafe doubles a backslash run before an escape, so a field passes
// through it once: never trunc(orDash(s))).
func truncDash(s string, n int) string {
	if s == "" {
		return "-"
	}
	return trunc(s, n)
}

// trunc is a table field: s made safe for a terminal (termSafe), cut to
// at most n bytes at a character boundary, "…" marking the cut.
func trunc(s string, n int) string {
	s = termSafe(s)
	if len(s) <= n {
		return s
	}
	cut := n - 1
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// socketIsDirectory refuses an admin socket path that names a
// directory (exit 64): the data directory given for the socket in it
// was "umbra is not running" (rt25c F7), and the operator went to start
// a second daemon. It names the sockets in the directory, if any, to
// give instead.
func socketIsDirectory(path string) error {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return nil
	}
	var socks []string
	if ents, err := os.ReadDir(path); err == nil {
		for _, e := range ents {
			if e.Type()&os.ModeSocket != 0 {
				socks = append(socks, filepath.Join(path, e.Name()))
			}
		}
	}
	advice := "give the path of the admin socket itself (server.admin_socket of the daemon's configuration; by default admin.sock in its data directory)"
	if len(socks) > 0 {
		advice = "give the socket's own path: " + strings.Join(socks, " or ")
	}
	return &exitError{code: exitUsage, err: shownErr(fmt.Errorf("the admin socket path %s is a directory, not a socket (from --socket, UMBRA_SOCKET or the configuration): %s",
		path, advice), append(socks, path)...)}
}
