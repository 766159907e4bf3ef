package main

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/jsonsafe"
)

// daemonConfig finds the configuration of the running daemon, in the
// admin commands' order (adminSocket): --socket, else $UMBRA_SOCKET, else
// --config or $UMBRA_CONFIG (read directly), else the installed daemon's
// socket when it exists, else the socket of an installed configuration or
// of the embedded default: a daemon found by its socket is asked which
// file it runs and where its tracking log is (GET /v1/status), and that
// file is read (daemonFile), so that the command judges by what the
// daemon runs wherever it was started (checkWritePlace). Without an
// answering daemon it falls back to an installed configuration
// (/etc/umbra), else the embedded default, and says on stderr which
// configuration it used. route explain has explainConfig; track
// trackingConfig.
func daemonConfig(cmd *cobra.Command) (*config.Config, error) {
	return daemonConfigBy(cmd, daemonFile)
}

// trackingConfig is daemonConfig for track: of an answering daemon only
// what its status says — the tracking log it writes — and not its file,
// which, edited since the daemon's start into an invalid state, would
// refuse a search of the log the daemon still writes. A search of the
// wrong tracking log must not pass for an empty result: the fallbacks are
// daemonConfig's, said on stderr.
//
// With --config FILE (no --socket), the daemon on FILE's admin socket is
// asked too: a tracking.path or data_dir edited in FILE and not yet
// applied (a restart applies them) names a log the daemon does not
// write, and "no tracking log there" would tell the operator to give the
// --config they gave. The log the daemon writes is searched,
// and stderr says FILE's setting is not in force yet — only when that
// daemon runs FILE (its status names the file it read).
func trackingConfig(cmd *cobra.Command) (*config.Config, error) {
	sock, _ := cmd.Flags().GetString("socket")
	if named := configNamed(cmd); sock == "" && envSocket(cmd) == "" && named != "" {
		cfg, err := loadFile(named)
		if err != nil || cfg.Server.AdminSocket == "" {
			return cfg, err
		}
		st, serr := daemonClient(cmd, cfg.Server.AdminSocket).Status()
		st = statusPaths(st)
		if serr != nil || st.TrackingPath == "" {
			return cfg, nil // no daemon there: the file decides
		}
		// The file's log and the daemon's compared as a reload compares
		// them (samePlace): the same log named through a link is the
		// one in force, not a setting a restart applies. It is searched
		// by the daemon's name for it: Search refuses a symbolic link at
		// the log's name (O_NOFOLLOW), which FILE's spelling may be.
		if cfg.Tracking.Enabled && samePlace(st.TrackingPath, absPath(cfg.Tracking.Path)) {
			cfg.Tracking.Path = st.TrackingPath
			return cfg, nil
		}
		if !runsFile(st.ConfigFile, cfg.File) { // the file it runs, by name or identity (checkDaemonRunsNamed)
			// Another daemon answers there (two configurations sharing
			// one admin socket, one of them stopped): its log is not
			// FILE's; FILE decides.
			return cfg, nil
		}
		was := "tracking.path " + cfg.Tracking.Path
		if !cfg.Tracking.Enabled {
			was = "tracking.enabled false"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "umbra: %s has %s, not in force yet (a restart applies it): the daemon on %s writes %s; searching that\n",
			cfg.File, was, cfg.Server.AdminSocket, st.TrackingPath)
		return configOfDaemon(st), nil
	}
	return daemonConfigBy(cmd, func(st admin.Status, _ string) (*config.Config, error) { return configOfDaemon(st), nil })
}

// daemonConfigBy is daemonConfig with of, what is made of an answering
// daemon's status.
func daemonConfigBy(cmd *cobra.Command, of func(admin.Status, string) (*config.Config, error)) (*config.Config, error) {
	sock, _ := cmd.Flags().GetString("socket")
	if sock == "" {
		sock = envSocket(cmd)
	}
	named := configNamed(cmd)
	if sock == "" && named != "" {
		return loadFile(named)
	}
	if sock == "" {
		// The installed daemon's socket, else the socket of an installed
		// configuration or of the embedded default: adminSocket's order.
		var err error
		if sock, err = adminSocket(cmd); err != nil {
			return nil, err
		}
	}
	st, err := daemonClient(cmd, sock).Status()
	if errors.Is(err, admin.ErrNotAdminSocket) {
		return nil, apiErr(err) // the wrong path, not a daemon to fall back from (rt33c F4)
	}
	st = statusPaths(st)
	why := noAnswer(sock, err)
	switch {
	case err == nil && (st.ConfigFile != "" || st.TrackingPath != ""):
		return of(st, sock)
	case err == nil:
		// A daemon older than these fields (the binary was replaced,
		// the daemon not restarted yet), or the embedded default
		// without tracking: the files decide, as before.
		why = fmt.Sprintf("the daemon on %s does not name its configuration", shown(sock))
	}
	cfg, err := discoverConfig(cmd)
	if err != nil {
		return nil, err
	}
	if cfg.File == "" && socketNamed(cmd) != "" {
		// Its socket was named already (rt33c F4): what is left to
		// name is its configuration.
		fmt.Fprintf(cmd.ErrOrStderr(), "umbra: %s; using the embedded default configuration (name the daemon's configuration with --config or UMBRA_CONFIG)\n", why)
	} else if cfg.File == "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "umbra: %s; using the embedded default configuration (name the daemon's with --socket, --config, UMBRA_SOCKET or UMBRA_CONFIG)\n", why)
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "umbra: %s; using the configuration %s\n", why, shown(cfg.File))
	}
	return cfg, nil
}

// daemonClient is a client of the daemon on sock that knows its
// transport database (daemonDatabase): a daemon that does not answer is
// told apart as starting, or as running with its socket's file gone.
func daemonClient(cmd *cobra.Command, sock string) *admin.Client {
	c := admin.NewClient(sock)
	c.SetDatabase(daemonDatabase(cmd, sock))
	c.SetConfigFile(socketConfigFile(cmd))
	c.SetDefaultConfig(defaultUsed(cmd))
	return c
}

// noAnswer says why the daemon on sock gave no configuration (err, of a
// request that got no answer): "no daemon answers" only when none runs
// there, not of a daemon starting, one whose socket's file is gone, or
// a socket that refuses this user — each in its own words, with what
// the commands then read instead said by the caller.
func noAnswer(sock string, err error) string {
	sock = shown(sock) // on one line, escaped once, as every answer names a file given
	switch {
	case errors.Is(err, admin.ErrSocketGone):
		return fmt.Sprintf("the daemon runs, but its admin socket %s is gone (its file removed or replaced: SIGHUP makes it again), so it is not asked", sock)
	case errors.Is(err, admin.ErrSocketElsewhere):
		var se *admin.SocketElsewhereError
		if errors.As(err, &se) && se.Other {
			return fmt.Sprintf("%v; so it is not asked", err) // rt27c F4: another daemon, started with -c
		}
		if errors.As(err, &se) && se.Socket != "" && se.Named {
			// A socket named on purpose, or a default's: no file to blame,
			// and the daemon has reloaded already (rr-opsrt38 F2).
			return fmt.Sprintf("the daemon runs, but not at %s: it answers on %s (its configuration moved the socket at its start or last reload: "+
				"give --socket %s), so it is not asked", sock, shown(se.Socket), shown(se.Socket))
		}
		if errors.As(err, &se) && se.Socket != "" {
			return fmt.Sprintf("the daemon runs, but not at %s: it answers on %s (its configuration file was edited since its start or last reload: "+
				"SIGHUP moves its socket, or give --socket %s), so it is not asked", sock, shown(se.Socket), shown(se.Socket))
		}
		return fmt.Sprintf("the daemon runs, but not at %s (its configuration file was edited since its start: a change of data_dir applies at a restart), so it is not asked", sock)
	case errors.Is(err, admin.ErrStarting):
		return fmt.Sprintf("the daemon on %s is starting and does not answer yet", sock)
	case errors.Is(err, admin.ErrPermission):
		return fmt.Sprintf("the admin socket %s refuses this user, so whether a daemon answers there is not known", sock)
	}
	return fmt.Sprintf("no daemon answers on %s", sock)
}

// configOfDaemon is the configuration a daemon reported in its status,
// as far as track reads one: the file it runs and the tracking log it
// actually writes.
func configOfDaemon(st admin.Status) *config.Config {
	cfg := &config.Config{File: st.ConfigFile}
	cfg.Tracking.Enabled = st.TrackingPath != ""
	cfg.Tracking.Path = st.TrackingPath
	cfg.Tracking.MaxFiles = st.TrackingMaxFiles
	return cfg
}

// daemonFile loads the configuration file a daemon reported in its
// status, with the tracking log it actually writes.
func daemonFile(st admin.Status, sock string) (*config.Config, error) {
	var cfg *config.Config
	var err error
	if st.ConfigFile == "" {
		cfg, err = config.LoadDefault()
	} else {
		cfg, err = config.Load(st.ConfigFile)
	}
	if err != nil {
		return nil, &exitError{code: exitConfig, err: fmt.Errorf("the configuration of the daemon on %s: %w", config.ShownPath(sock), err)}
	}
	cfg.Tracking.Enabled = st.TrackingPath != ""
	if st.TrackingPath != "" {
		cfg.Tracking.Path = st.TrackingPath
		cfg.Tracking.MaxFiles = st.TrackingMaxFiles
	}
	return cfg, nil
}

func loadFile(file string) (*config.Config, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, &exitError{code: exitConfig, err: err}
	}
	return cfg, nil
}

// checkDaemonRunsNamed refuses (exit 1) a management command given a
// configuration file (--config, $UMBRA_CONFIG) whose admin socket is
// answered by a daemon that runs another file: a copied admin_socket
// line, or a reload that could not move the socket and kept the old
// one, drove that other daemon's queues and database (rt32c F2). Every
// command that talks to the admin socket comes here (adminClient), in
// route explain's words (otherDaemon), by the same comparison
// (runsFile). A socket named with --socket is addressed on purpose and
// not checked; one from the environment ($UMBRA_SOCKET) beside a file
// from it ($UMBRA_CONFIG) is, as two settings that may name two servers
// (ops48 F2: -c FILE itself uses FILE's socket, envSocket). A daemon
// that does not answer is left to the
// command, which says so in its own words; one that does not say which
// file it runs (a release before config_file in its status) is named on
// stderr as not checked, and asked: refusing it would stop every
// command against a daemon not yet restarted after an upgrade.
func checkDaemonRunsNamed(cmd *cobra.Command, c *admin.Client, sock string) error {
	named := configNamed(cmd)
	flag, _ := cmd.Flags().GetString("socket")
	fromEnv := flag == "" && envSocket(cmd) != ""
	if named == "" || flag != "" {
		return nil
	}
	file, known, err := c.RunningConfig()
	switch {
	case err != nil:
		return nil
	case !known:
		fmt.Fprintf(cmd.ErrOrStderr(), "umbra: warning: the daemon on %s does not say which configuration file it runs "+
			"(an earlier release): not checked against %s\n", shown(sock), shown(named))
		return nil
	case runsFile(file, named):
		return nil
	}
	if fromEnv {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: nothing was asked of it (UMBRA_SOCKET names one server, UMBRA_CONFIG another: "+
			"unset one, give -c FILE to use FILE's socket, or --socket PATH to address that daemon on purpose)", otherDaemon(sock, file, named))}
	}
	return &exitError{code: exitFailure, err: fmt.Errorf("%s: nothing was asked of it (name its socket with --socket to address it on purpose, "+
		"or give the file it runs; server.admin_socket in %s names that daemon's socket)", otherDaemon(sock, file, named), shown(named))}
}

// otherDaemon says that the daemon on sock runs the file running
// ("" the embedded default), not named.
func otherDaemon(sock, running, named string) string {
	return fmt.Sprintf("the daemon on %s runs %s, not %s", shown(sock), orDefault(shown(running), "the embedded default configuration"), shown(named))
}

// runsFile reports whether running, the configuration file a daemon
// says it runs (absolute, as it was started with it; "" the embedded
// default), is named, a file the command was given (relative to the
// working directory): the same name, the same file by identity
// (samePlace: a link to it, a second name), or the same file once every
// symbolic link of both is resolved (a daemon started through a link to
// the file given).
func runsFile(running, named string) bool {
	if running == "" || named == "" {
		return false
	}
	abs := absPath(named)
	if samePlace(running, abs) {
		return true
	}
	a, errA := filepath.EvalSymlinks(running)
	b, errB := filepath.EvalSymlinks(abs)
	return errA == nil && errB == nil && a == b
}

// absPath makes a path absolute against the working directory (empty
// stays empty): the admin status names files for a CLI started elsewhere.
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// trackingPathOf is the absolute path of the tracking log, empty when
// tracking is off.
func trackingPathOf(cfg *config.Config) string {
	if !cfg.Tracking.Enabled {
		return ""
	}
	return absPath(cfg.Tracking.Path)
}

// explainConfig is the configuration route explain explains. When a
// daemon answers (--socket, $UMBRA_SOCKET, else the socket of --config's
// file or of the installed or embedded configuration: explainSocket),
// it is the configuration that daemon runs, as it read it at start or
// at its last reload (GET /v1/config), with its topology: the lines only
// the daemon can give (tls policy, this server) come from that daemon,
// so every line of the explanation is of the one configuration — never
// a file edited since without a reload beside the daemon's lookups,
// even one edited into an invalid state (the socket is found without
// validating the file). daemon is that daemon's client. Otherwise (no
// daemon answers, one older than /v1/config, or --config names another
// file than the daemon runs) it is the file as daemonConfig finds it,
// said once on stderr; daemon is nil and why says why, for the lines
// that are then not looked up.
func explainConfig(cmd *cobra.Command) (cfg *config.Config, daemon *admin.Client, why string, err error) {
	named := configNamed(cmd)
	why = "no admin socket known"
	if sock := explainSocket(cmd); sock != "" {
		c := daemonClient(cmd, sock)
		l, err := c.LoadedConfig()
		var ae *admin.APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			why = fmt.Sprintf("the daemon on %s does not give the configuration it runs (a release before GET /v1/config)", shown(sock))
		case errors.As(err, &ae):
			why = fmt.Sprintf("the daemon on %s does not give the configuration it runs (%s)", shown(sock), errorText(err))
		case err != nil:
			why = noAnswer(sock, err)
		case named != "" && !runsFile(l.File, named): // the file it runs, by name or identity (a link to it)
			why = otherDaemon(sock, l.File, named)
		default:
			cfg, err := config.Parse([]byte(l.Config), l.File)
			if err != nil {
				return nil, nil, "", &exitError{code: exitConfig, err: fmt.Errorf("the configuration the daemon on %s runs: %w", config.ShownPath(sock), err)}
			}
			cfg.TopologySource = []byte(l.Topology)
			if l.Topology == "" {
				cfg.TopologySource = nil
			}
			if l.Server != nil {
				// The server section applies only at a restart: the
				// daemon's in force (its postmaster, its name), not the
				// one the text it reloaded says (rt19 fixg F3).
				cfg.Server = *l.Server
			}
			return cfg, c, "", nil
		}
	}
	if named != "" {
		cfg, err = loadFile(named)
	} else {
		cfg, err = discoverConfig(cmd)
	}
	if err != nil {
		return nil, nil, "", err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "umbra: %s; explaining %s as the file reads now (the daemon's tls policy and this-server lines not looked up)\n",
		why, orDefault(shown(cfg.File), "the embedded default configuration"))
	return cfg, nil, why, nil
}

// loadedConfig is the configuration a daemon answering on the socket
// the command finds (explainSocket) runs, as it loaded it (GET
// /v1/config, with the server section in force); nil when none answers,
// when --config names another file than it runs, or when it does not
// say. Not said on stderr: a command that judges by it judges by the
// files too.
func loadedConfig(cmd *cobra.Command) *config.Config {
	sock := explainSocket(cmd)
	if sock == "" {
		return nil
	}
	c := admin.NewClient(sock)
	c.SetTimeout(5 * time.Second) // a daemon that does not answer (SIGSTOP) does not hold a command that needs none
	l, err := c.LoadedConfig()
	if err != nil {
		return nil
	}
	if named := configNamed(cmd); named != "" && !runsFile(l.File, named) {
		return nil
	}
	cfg, err := config.Parse([]byte(l.Config), l.File)
	if err != nil {
		return nil
	}
	if l.Server != nil {
		cfg.Server = *l.Server
	}
	return cfg
}

// explainSocket is the admin socket in adminSocket's order — --socket,
// $UMBRA_SOCKET, the installed daemon's socket when no file is named,
// else the socket the configuration file names (--config, $UMBRA_CONFIG,
// an installed one, else the embedded default's) — with that file read
// leniently (config.AdminSocketOf): route explain asks the daemon for
// the configuration it runs, which a file edited into an invalid state
// since must not keep it from. "" when the file names none that can be
// read.
func explainSocket(cmd *cobra.Command) string {
	if path := socketNamed(cmd); path != "" {
		return path
	}
	file := configNamed(cmd)
	if file == "" {
		file = installedConfig()
	}
	if file == "" {
		if cfg, err := config.LoadDefault(); err == nil {
			return cfg.Server.AdminSocket
		}
		return ""
	}
	return config.AdminSocketOf(file)
}

// statusPaths is st with the file names it gives (config_file,
// tracking_path) read back as the daemon holds them: the answer writes
// them by its text rule (a byte that is not UTF-8 as the text \xNN),
// and a name compared with a path or opened must be the file's own.
func statusPaths(st admin.Status) admin.Status {
	st.ConfigFile, st.TrackingPath = jsonsafe.FromTextBytes(st.ConfigFile), jsonsafe.FromTextBytes(st.TrackingPath)
	return st
}
