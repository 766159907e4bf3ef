package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/jsonsafe"
	"umbra/internal/mailaddr"
	"umbra/internal/routing"
	"umbra/internal/signing"
	"umbra/internal/smtp"
	"umbra/internal/topology"
	"umbra/internal/tracking"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a configuration file (FILE, else -c/--config, else $UMBRA_CONFIG) and the files it names; errors give file:line",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The file is FILE or the global -c/--config (rt16e F3):
			// one of them, or both naming the same file; neither given,
			// $UMBRA_CONFIG, the flag's default as for every command
			// (opsrt40 F5).
			flagFile, _ := cmd.Flags().GetString("config")
			switch {
			case len(args) == 0 && configNamed(cmd) == "":
				return &exitError{code: exitUsage, err: errors.New("config check needs a file: umbra config check FILE, -c/--config FILE, or $UMBRA_CONFIG")}
			case len(args) == 0:
				args = []string{configNamed(cmd)}
			case flagFile != "" && !config.SameFile(flagFile, args[0]):
				return &exitError{code: exitUsage, err: jsonsafe.Textf("config check was given two files: %s (argument) and %s (-c/--config); give one",
					shown(args[0]), shown(flagFile))}
			}
			// --json: the verdict as one object on standard output
			// (configCheckResult), the exit code as without it.
			res := configCheckResult{File: shown(args[0]), Errors: []string{}, Warnings: []string{}}
			// Errors and warnings name files and quote their content:
			// the file name as every answer names a file given (shown:
			// on one line, escaped once), a value's control character
			// as the loader's \xNN once (configText). The summary and
			// the ok line name it so too.
			refuse := func(lines []string, summary error) error {
				for i := range lines {
					lines[i] = configText(lines[i], args[0])
				}
				res.Errors = append(res.Errors, lines...)
				if wantJSON(cmd) {
					if err := printJSON(cmd.OutOrStdout(), res); err != nil {
						return err
					}
				} else {
					for _, line := range lines {
						fmt.Fprintln(cmd.ErrOrStderr(), line)
					}
				}
				return &exitError{code: exitConfig, err: summary}
			}
			warn := func(line string) {
				line = configText(line, args[0])
				res.Warnings = append(res.Warnings, line)
				if !wantJSON(cmd) {
					fmt.Fprintln(cmd.ErrOrStderr(), line)
				}
			}
			// A valid configuration whose paths are not (a directory
			// under a file, a link that leads nowhere) is checked on
			// without the files refused: its other files' errors are
			// reported in the same run.
			cfg, err := config.LoadForCheck(args[0])
			var pathErrs config.Errors
			if err != nil {
				es, ok := err.(config.Errors)
				switch {
				case ok && cfg != nil:
					pathErrs = es
					for _, at := range cfg.PathFaults() {
						if c, ok := cfg.Without(at...); ok {
							cfg = c
						}
					}
				case ok:
					// The topology's own errors too, in the same run
					// (rt33c F9): they do not depend on this file's.
					summary := shown(args[0]) + " is not valid"
					lines := strings.Split(es.Error(), "\n")
					// Not when this file's errors already refuse the
					// topology at the line that names it (a directory, a
					// file of another kind): the same error, said once
					// (rr34 opsrt33).
					t, tline := config.TopologyOf(args[0])
					saidAtTopology := slices.ContainsFunc(es, func(e *config.Error) bool { return tline != 0 && e.Line == tline && e.File == args[0] })
					if te := config.TopologyErrors(args[0]); te != nil && !saidAtTopology {
						for _, l := range strings.Split(te.Error(), "\n") {
							if !slices.Contains(lines, l) {
								lines = append(lines, l)
							}
						}
						if te[0].File == args[0] {
							summary += "; it names a topology " + config.ShownPath(t) + " that cannot be read"
						} else {
							summary += "; the topology " + config.ShownPath(t) + " is not valid"
						}
					}
					return refuse(lines, configShown(summary))
				case !wantJSON(cmd):
					return &exitError{code: exitConfig, err: err} // one line: main prints it, each name once (errorText)
				default:
					// In the text form already (errorText), not
					// configText's again.
					res.Errors = append(res.Errors, errorText(err))
					return refuse(nil, err)
				}
			}
			// The directories serve makes and writes at its start, as
			// this user, without making them (startDirsRefused).
			dirErrs := startDirsRefused(cfg)
			if f := checkConfig(cfg); f != nil || pathErrs != nil || dirErrs != nil {
				var r checkReport
				if pathErrs != nil {
					r.add(" is not valid", pathErrs)
				}
				if f != nil {
					r.add(f.summary, errors.New(strings.Join(f.detail, "\n")))
				}
				if dirErrs != nil {
					r.add(" names a directory this process may not make or write", dirErrs)
				}
				f = r.failure()
				return refuse(f.detail, configShown(shown(args[0])+configText(f.summary)))
			}
			// Each warning is "file:line: warning: …" (warnAt), the line
			// of the value it is about, as errors are.
			topo := topologyOf(cfg) // read once for the checks below
			var rtopo *routing.Topology
			// Smart hosts given by name are looked up with the server's
			// resolver (dns:), bounded: a check does not hang on DNS.
			var r delivery.Resolver = noDNS{}
			if c, err := newResolver(cfg.DNS, nil); err == nil {
				r = c
			}
			if topo != nil {
				rtopo, _ = topology.Build(topo) // its errors: checkConfig
				// The servers' host names as the daemon resolves them at
				// load, before any check that compares addresses: the
				// peers take a connection from those addresses for the
				// server's (outgoingSourcesOutsideTopology).
				resolveServerHosts(rtopo, nil, r, slog.New(slog.DiscardHandler), nil)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			for _, w := range configWarnings(ctx, cfg, topo, rtopo, r) { // the list the daemon logs (configwarnings.go)
				warn(w)
			}
			cancel()
			// The reload's comparisons with the running state (the
			// running postmaster, the topology's databases, the running
			// server's name, directories moved): the daemon's admin
			// socket, found as every command finds it, is asked for a
			// dry run; each refusal is the file's error as the reload's.
			offline, _ := cmd.Flags().GetBool("offline")
			res.Against = "alone"
			switch refusals, why := askRunning(cmd, cfg, args[0], offline); {
			case len(refusals) > 0:
				res.Against = "running server"
				return refuse(refusals, configShown(shown(args[0])+" would be refused by the running server's reload (SIGHUP); its configuration stays in force until a restart"))
			case why == "":
				res.Against = "running server"
			default:
				res.AloneWhy = why
			}
			res.OK, res.Role, res.Server = true, cfg.Server.Role, cfg.Server.Name
			res.ReceiveConnectors, res.SendConnectors = len(cfg.ReceiveConnectors), len(cfg.SendConnectors)
			// The takeover time for these settings (README: Heartbeats
			// and takeover), as the shadow manager applies them.
			// With the switch off no new copy is taken, but the copies
			// held from before are watched and taken over all the same
			// (sites49 F1).
			res.TakeoverAfter, res.TakeoverAfterHung = shadowTiming(cfg).TakeoverDelay()
			takeover := fmt.Sprintf("takeover of shadow copies held here: %s after their primary's last contact (%s if it hangs)",
				res.TakeoverAfter, res.TakeoverAfterHung)
			if !cfg.Transport.ShadowRedundancyEnabled {
				takeover = fmt.Sprintf("takeover of shadow copies held here from before (shadow_redundancy_enabled is false: no new copy is accepted): "+
					"%s after their primary's last contact (%s if it hangs)", res.TakeoverAfter, res.TakeoverAfterHung)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s %s, %d receive and %d send connectors)\n", shown(args[0]),
				cfg.Server.Role, cfg.Server.Name, len(cfg.ReceiveConnectors), len(cfg.SendConnectors))
			fmt.Fprintln(cmd.OutOrStdout(), takeover)
			if res.Against == "running server" {
				fmt.Fprintln(cmd.OutOrStdout(), "ok (checked against the running server: its SIGHUP reload would take this file)")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "checked alone (%s): the reload-time comparisons against the running server were not made\n", res.AloneWhy)
			}
			return nil
		},
	}
	check.Flags().Bool("offline", false, "check the file alone: do not ask the running daemon whether its reload would take it")
	cmd.AddCommand(check)
	return cmd
}

// askRunning asks the daemon whether its SIGHUP reload would take the
// configuration file (config check): its refusals at file:line in the
// reload's words, none when it would. The socket is found as every
// command finds it (--socket, $UMBRA_SOCKET unless -c names a file,
// the installed daemon's), else the file's server.admin_socket. why,
// when not "", says why the file was checked alone (--offline, no
// daemon answering): the comparisons were not made.
func askRunning(cmd *cobra.Command, cfg *config.Config, file string, offline bool) (refusals []string, why string) {
	if offline {
		return nil, "--offline"
	}
	sock := socketNamed(cmd)
	if sock == "" {
		sock = cfg.Server.AdminSocket
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, "the file's absolute path is not known: " + errorText(err)
	}
	c := admin.NewClient(sock)
	if t, err := time.ParseDuration(os.Getenv("UMBRA_ADMIN_TIMEOUT")); err == nil && t > 0 {
		c.SetTimeout(t)
	}
	lines, err := c.ReloadCheck(abs)
	if err != nil {
		return nil, "the running server was not reached on " + shown(sock) + ": " + errorText(err)
	}
	// The daemon names the file by the absolute path it was given: the
	// lines name it as the command was given it, as its other errors.
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, abs+":"); ok && abs != file {
			lines[i] = file + ":" + rest
		}
	}
	return lines, ""
}

// configText is a line of a configuration's errors or warnings as
// config check, serve and the reload failure's log line show it: a value
// the loader quoted (%q) already writes a control character as \xNN and
// a backslash doubled, so a quoted segment is shown as it is (escaping
// it again doubled the backslash of each \xNN: "a\\x00b" read as a
// literal backslash); the file name of files at the line's start is
// written by shown, as every answer names a file given (a byte that is
// not UTF-8 as \xNN, the text \xNN a name holds as \\xNN, a control
// character as \xNN: a name never splits a line), and the text around
// the quoted segments by jsonsafe.TextBytes. A segment is
// taken as quoted only when it is exactly what %q writes (no raw byte,
// no raw control character in it). Each line of s is done so.
func configText(s string, files ...string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		prefix := ""
		for _, f := range files {
			if f != "" && strings.HasPrefix(l, f) {
				prefix, l = shown(f), l[len(f):]
				break
			}
		}
		lines[i] = prefix + quotedAsIs(l)
	}
	return strings.Join(lines, "\n")
}

// quotedAsIs is l with every segment exactly as %q writes it kept as it
// is and the text between them written by jsonsafe.TextBytes.
func quotedAsIs(l string) string { return quotedAsIsBy(l, jsonsafe.TextBytes) }

// quotedAsIsBy is quotedAsIs with plain the rule for the text between
// Go's quoted segments.
func quotedAsIsBy(l string, plainText func(string) string) string {
	return jsonsafe.QuotedAsIs(l, plainText)
}

// configCheckResult is what config check --json prints: the verdict,
// each error (file:line: message) and warning as the text prints them,
// and, when ok, what the file configures.
type configCheckResult struct {
	File              string   `json:"file"`
	OK                bool     `json:"ok"`
	Errors            []string `json:"errors"`
	Warnings          []string `json:"warnings"`
	Role              string   `json:"role,omitempty"`
	Server            string   `json:"server,omitempty"`
	ReceiveConnectors int      `json:"receive_connectors"`
	SendConnectors    int      `json:"send_connectors"`
	// TakeoverAfter is how long after a primary's last contact the
	// shadow copies held for it here are taken over with the settings
	// checked (timeout × retries), TakeoverAfterHung the same for a
	// primary that hangs (one heartbeat's bound more); with shadow
	// redundancy off the same, for the copies held from before
	// (README: Heartbeats and takeover).
	TakeoverAfter     time.Duration `json:"takeover_after_ns,omitempty"`
	TakeoverAfterHung time.Duration `json:"takeover_after_hung_ns,omitempty"`
	// Against is how the file was checked: "running server" (the
	// daemon's SIGHUP reload checks made against its running state, a
	// dry run) or "alone" (no daemon answered, or --offline: the
	// reload-time comparisons were not made; AloneWhy says why).
	Against  string `json:"checked_against"`
	AloneWhy string `json:"checked_alone_why,omitempty"`
}

// checkFailure is why checkConfig refuses a configuration: the lines
// config check prints (file:line where there is one) and its summary
// after the file name.
type checkFailure struct {
	detail  []string
	summary string
	file    string // the configuration's file, which its lines start with (configText)
}

func (f *checkFailure) Error() string {
	return strings.Join(f.detail, "\n")
}

// checkReport gathers every refusal of one check: each step adds what it
// finds and the checks go on, so that an operator with several mistakes
// sees them all in one run. A line already reported (the same file
// refused by two loaders) is not repeated.
type checkReport struct {
	detail    []string
	summaries []string
	seen      map[string]bool
}

// add reports err (each of its lines) with the summary of its step.
func (r *checkReport) add(summary string, err error) {
	added := false
	for _, line := range strings.Split(err.Error(), "\n") {
		if line == "" || r.seen[line] {
			continue
		}
		if r.seen == nil {
			r.seen = map[string]bool{}
		}
		r.seen[line] = true
		r.detail = append(r.detail, line)
		added = true
	}
	if added && !slices.Contains(r.summaries, summary) {
		r.summaries = append(r.summaries, summary)
	}
}

// failure is the report as a refusal, or nil when nothing was found.
// Several steps' summaries are joined: "umbra.yaml names files that
// cannot be read; a file it names is not valid".
func (r *checkReport) failure() *checkFailure {
	if len(r.detail) == 0 {
		return nil
	}
	summary := r.summaries[0]
	for _, s := range r.summaries[1:] {
		summary += "; " + strings.TrimPrefix(strings.TrimPrefix(s, ": "), " ")
	}
	return &checkFailure{detail: r.detail, summary: summary}
}

// checkConfig runs every check of a loaded configuration beyond its own
// file: the files it names, the topology and this server's place in it,
// the recipient directory, and every file read by the code serve reads
// it with. config check runs it, and serve runs it before it touches the
// data directory: a configuration serve would refuse leaves no database
// behind. It reports everything it finds, each at its file:line, not
// only the first: the checks that do not need what an earlier one
// refused go on after it.
func checkConfig(cfg *config.Config) *checkFailure { return checkConfigAt(cfg, nil) }

// checkReload is checkConfig for a SIGHUP reload: the checks of parts a
// reload does not apply — the web console (its listener, certificate
// and accounts are made at start; the running console reads its
// credentials file itself) and the DNS resolver (one, built at start) —
// do not refuse it: what they find is given to warn (rr27 F3: a receive
// connector's credentials file left with only a :server account, which
// the console falls back to, refused the reload that revoked the last
// SMTP AUTH user, who kept relaying). The start and config check still
// refuse it.
func checkReload(cfg *config.Config, warn func(summary string, err error)) *checkFailure {
	return checkConfigAt(cfg, warn)
}

// checkConfigAt is checkConfig; with warn set (a reload), the refusals
// of the steps that only the start applies go to warn instead.
func checkConfigAt(cfg *config.Config, warn func(summary string, err error)) *checkFailure {
	var r checkReport
	// Each file setting at its line; then the files derived from
	// others (the console's defaults), by name. The loaders below run
	// without the settings whose files cannot be read: reported here,
	// once.
	loadable := cfg
	if err := cfg.UnreadableFiles(); err != nil {
		if warn == nil {
			r.add(" names files that cannot be read", err)
		} else {
			// A reload: the console's files are read only by a
			// restart (the running console keeps what it holds), so
			// what is found in them is a warning and the rest applies.
			if err := cfg.UnreadableFilesUnder("console", false); err != nil {
				r.add(" names files that cannot be read", err)
			}
			if err := cfg.UnreadableFilesUnder("console", true); err != nil {
				warn(" names console files that cannot be read (the console keeps what it holds until a restart)", err)
			}
		}
		for _, at := range cfg.UnreadableSettings() {
			if c, ok := loadable.Without(at...); ok {
				loadable = c
			}
		}
	} else {
		var missing, consoleMissing []string
		console := map[string]bool{}
		if warn != nil && cfg.Console.Listen != "" {
			cert, key := config.ConsoleCertificate(cfg)
			for _, f := range []string{cert, key, config.ConsoleCredentials(cfg)} {
				console[f] = f != ""
			}
			// A file the connectors use too (the credentials the
			// console's derive from) is theirs: refused.
			noConsole := *cfg
			noConsole.Console.Listen = ""
			for _, f := range referencedFiles(&noConsole) {
				delete(console, f)
			}
		}
		for _, f := range referencedFiles(cfg) {
			if _, err := os.Stat(f); err != nil {
				// The path as the loader names one (config.ShownPath:
				// quoted when it holds a control character), so that a
				// newline in it splits no line.
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = fmt.Errorf("%s %s: %w", pe.Op, config.ShownPath(pe.Path), pe.Err)
				}
				m := orDefault(config.ShownPath(cfg.File), "the configuration") + ": " + err.Error()
				if console[f] {
					consoleMissing = append(consoleMissing, m)
				} else {
					missing = append(missing, m)
				}
			}
		}
		if len(missing) > 0 {
			r.add(" names files that cannot be read", errors.New(strings.Join(missing, "\n")))
		}
		if len(consoleMissing) > 0 {
			warn(" names console files that cannot be read (the console keeps what it holds until a restart)", errors.New(strings.Join(consoleMissing, "\n")))
		}
	}
	// Listeners on addresses of this machine, at their lines.
	if err := cfg.ListenersNotHere(); err != nil {
		r.add(" listens on an address this machine does not have", err)
	}
	// Outbound source addresses too, at their lines.
	sourceOK := true
	if err := cfg.SourceAddressesNotHere(); err != nil {
		sourceOK = false
		r.add(" binds outbound connections to an address this machine does not have", err)
	}
	// The topology first: its errors are the topology's, not the
	// recipient directory's (which reads its addresses from it).
	topoOK := true
	if cfg.Topology != "" && loadable.Topology == "" {
		// A topology file that cannot be read is said above, at its
		// line: not again, unlabelled, as its open's error (rt33c F9).
		topoOK = false
	} else if cfg.Topology != "" {
		if _, err := serverTopology(cfg); err != nil {
			topoOK = false
			switch es, ok := err.(config.Errors); {
			case errors.As(err, new(localStoreError)):
				r.add(": its mailbox store does not fit the topology "+config.ShownPath(cfg.Topology), err)
			case ok && len(es) > 0 && es[0].File == cfg.File:
				r.add(" does not fit the topology "+config.ShownPath(cfg.Topology), err) // a binding on another server's address
			default:
				r.add(": the topology "+config.ShownPath(cfg.Topology)+" is not valid", err)
			}
		}
	}
	if topoOK {
		// The recipient directory sources parse as at start (file:line);
		// it reads addresses from the topology, refused above if not.
		if _, err := recipientValidator(loadable, nil, nil, slog.New(slog.DiscardHandler)); err != nil {
			r.add(": the recipient directory is not valid", err)
		}
		// shadow_on_receipt against the candidates the topology gives.
		if _, err := receiptWithoutCandidates(cfg, checkedTopology(cfg)); err != nil {
			r.add(": a connector's shadow copy on receipt has no shadow server", err)
		}
	}
	// Every other file is read by the code serve reads it with.
	checkAsServe(loadable, topoOK, sourceOK, &r, warn)
	// The tracking log renames and deletes its files at rotation: a path
	// whose file (or a rotated one) is not a tracking log — another
	// daemon's queue.db, /etc/passwd — is refused before a start
	// touches it (rt27c F3). Its lock is not probed here: the daemon
	// this configuration runs holds it.
	if cfg.Tracking.Enabled && cfg.Tracking.Path != "" {
		// A path under a file that is not a directory holds no file:
		// the loader refused it at its line already (validatePaths: "…
		// is not a directory (a regular file)"), said once (rt31c F5).
		if err := tracking.CheckPath(cfg.Tracking.Path, cfg.Tracking.MaxFiles); err != nil && !errors.Is(err, syscall.ENOTDIR) {
			at := []any{"tracking", "path"}
			if !cfg.Written(at...) {
				at = []any{"server", "data_dir"}
			}
			what := ": tracking.path names a file that is not its tracking log"
			if fi, lerr := os.Lstat(cfg.Tracking.Path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
				what = ": tracking.path is a symbolic link, which the tracking log never follows"
			}
			r.add(what, config.Errors{cfg.ErrorAt(err.Error(), at...)})
		}
	}
	f := r.failure()
	if f != nil {
		f.file = cfg.File
	}
	return f
}

// checkedTopology is the topology of cfg for the checks after it was
// checked (nil without one, or when it did not load: reported before).
func checkedTopology(cfg *config.Config) *routing.Topology {
	if cfg.Topology == "" {
		return nil
	}
	t, _ := loadTopology(cfg.Topology)
	return t
}

// topologyOf is the configuration's topology, read once for the checks
// that need it (unusedSendConnectors, heartbeatUnderThrottle); nil with
// none, or one that does not load (reported by the checks before).
func topologyOf(cfg *config.Config) *config.Topology {
	if cfg.Topology == "" {
		return nil
	}
	topo, err := config.LoadTopology(cfg.Topology)
	if err != nil {
		return nil
	}
	return topo
}

// unusedSendConnectors names the configured send connectors that routing
// never uses: with a topology, routing chooses among the topology's send
// connectors, and a send connector of the configuration file only gives
// its settings (port, TLS, auth, source address) to the topology
// connector of the same name.
func unusedSendConnectors(cfg *config.Config, topo *config.Topology) []string {
	if topo == nil || len(cfg.SendConnectors) == 0 {
		return nil
	}
	names := map[string]bool{}
	for _, sc := range topo.SendConnectors {
		names[sc.Name] = true
	}
	var out []string
	for i, sc := range cfg.SendConnectors {
		if names[sc.Name] && len(sc.AddressSpaces) > 0 {
			// It refines the topology connector of its name, whose
			// address spaces route (rt17f-F2): these are not used.
			out = append(out, warnAt(cfg, []any{"send_connectors", i, "address_spaces"}, "send connector %q: its address_spaces are not used: with a topology (%s) "+
				"the topology connector %q's address spaces decide", sc.Name, config.ShownPath(cfg.Topology), sc.Name))
		}
		if !names[sc.Name] && !logsInToServer(sc, topo) {
			out = append(out, warnAt(cfg, []any{"send_connectors", i, "name"}, "send connector %q is not used: with a topology (%s) routing chooses among the topology's send connectors, "+
				"and a configured one only gives its settings to the topology connector of the same name", sc.Name, config.ShownPath(cfg.Topology)))
		}
	}
	return out
}

// smartHostsThatAreThisServer warns of a send connector's smart host
// that is this server (by address or by a name that resolves to one of
// its addresses): delivery skips it, and with no other smart host the
// connector's mail waits for ever (451 4.4.6, loops back to myself).
func smartHostsThatAreThisServer(ctx context.Context, cfg *config.Config, r delivery.Resolver) []string {
	bindings := ownBindings(cfg)
	var out []string
	for i, sc := range cfg.SendConnectors {
		for j, w := range selfSmartHosts(ctx, r, bindings, sc) {
			if w != "" {
				out = append(out, warnAt(cfg, []any{"send_connectors", i, "smart_hosts", j}, "send connector %s: %s", sc.Name, w))
			}
		}
	}
	return out
}

// topologySmartHostsThatAreThisServer is smartHostsThatAreThisServer
// for the topology's send connectors this server sends through (it is
// one of their source servers; a disabled one aside), each as delivery
// sends through it (delivery.TopologyConnector: the configured connector
// of its name as InheritTopology resolves it, or the topology's alone).
// The warning is at the topology file's line. One the configuration
// file gives smart hosts of its own uses those, which the
// configuration's check covers. ct and rt are the topology as loaded
// (its file and lines; its routing snapshot), never read again here.
func topologySmartHostsThatAreThisServer(ctx context.Context, cfg *config.Config, ct *config.Topology, rt *routing.Topology, r delivery.Resolver) []string {
	if ct == nil || rt == nil {
		return nil
	}
	bindings := ownBindings(cfg)
	var out []string
	topologySmartHostConnectors(cfg, ct, rt, func(i int, sc config.SendConnector) {
		for j, w := range selfSmartHosts(ctx, r, bindings, sc) {
			if w != "" {
				out = append(out, ct.ErrorAt("warning: topology send connector "+sc.Name+": "+w, "send_connectors", i, "smart_hosts", j).Error())
			}
		}
	})
	return out
}

// topologySmartHostConnectors calls fn with each send connector of the
// topology this server sends through with the topology's smart hosts
// (it is one of the connector's source servers, the connector is not
// disabled, and the configuration gives it no smart hosts of its own —
// those are the configuration's to check), as delivery sends through it
// (delivery.TopologyConnector: its settings inherited), and its index in
// the topology file.
func topologySmartHostConnectors(cfg *config.Config, ct *config.Topology, rt *routing.Topology, fn func(i int, sc config.SendConnector)) {
	me := mailaddr.NameKey(cfg.Server.Name)
	for i, tc := range ct.SendConnectors {
		if len(tc.SmartHosts) == 0 || (tc.Enabled != nil && !*tc.Enabled) ||
			!slices.ContainsFunc(tc.SourceServers, func(s string) bool { return mailaddr.NameKey(s) == me }) {
			continue
		}
		if slices.ContainsFunc(cfg.SendConnectors, func(sc config.SendConnector) bool { return sc.Name == tc.Name && len(sc.SmartHosts) > 0 }) {
			continue
		}
		fn(i, delivery.TopologyConnector(cfg.SendConnectors, rt, tc.Name))
	}
}

// smartHostsThatAreTopologyServers warns of each smart host of a send
// connector this server sends through — the configuration's, and the
// topology's as topologySmartHostConnectors gives them — that is
// another server of the topology (rt20c F5). A send connector hands
// mail out of the organisation; a server of the topology takes it as
// the organisation's and routes it again, through this connector again,
// until the hop limit bounces it (554 5.4.6). Compared as written, with
// no lookup, by delivery.ServerReached (the host with the connector's
// port, config.SmartHostAddr, as delivery dials it, against each
// server's address, and its name at the port of that address: another
// port of its host is another service) — the very rule delivery reads a
// relay through a smart host as leaving the organisation by (rt20f F3),
// so a hub's name at another port is not warned of (OPS-42). Each
// warning is at the smart host's line (of the file that writes it).
func smartHostsThatAreTopologyServers(cfg *config.Config, ct *config.Topology, rt *routing.Topology) []string {
	if ct == nil || rt == nil {
		return nil
	}
	peers := func(sc config.SendConnector, warn func(j int, w string)) {
		for j, h := range sc.SmartHosts {
			name := delivery.ServerReached(rt, config.SmartHostAddr(h, sc.Port), cfg.Server.Name)
			if name == "" {
				continue
			}
			what := "the address of"
			if host, _, err := mailaddr.SplitHostPort(h); err == nil && mailaddr.NameKey(host) == mailaddr.NameKey(name) {
				what = "the name of"
			}
			warn(j, fmt.Sprintf("smart host %s is %s %s, a server of the topology: mail sent there is routed by the organisation again "+
				"and comes back through this connector until the hop limit bounces it (554 5.4.6); a send connector hands mail out of the organisation", h, what, name))
		}
	}
	var out []string
	for i, sc := range cfg.SendConnectors {
		peers(sc, func(j int, w string) {
			out = append(out, warnAt(cfg, []any{"send_connectors", i, "smart_hosts", j}, "send connector %s: %s", sc.Name, w))
		})
	}
	topologySmartHostConnectors(cfg, ct, rt, func(i int, sc config.SendConnector) {
		peers(sc, func(j int, w string) {
			out = append(out, ct.ErrorAt("warning: topology send connector "+sc.Name+": "+w, "send_connectors", i, "smart_hosts", j).Error())
		})
	})
	return out
}

// selfSmartHosts is, for each smart host of send connector sc as
// delivery sends through it, what a warning says of it when it is this
// server ("smart host H is an address this server listens on: …"), ""
// when it is not; nil when none is. What delivery finds for the
// connector's mail (delivery.CheckSelf: the same lookups and the same
// rule) says whether the others take its mail.
func selfSmartHosts(ctx context.Context, r delivery.Resolver, bindings []string, sc config.SendConnector) []string {
	if len(sc.SmartHosts) == 0 {
		return nil
	}
	all := delivery.CheckSelf(ctx, r, "", bindings, sc.Name, sc.SmartHosts, sc.Port, sc.MXAddressLimit, "")
	if all.Self == "" {
		return nil
	}
	what := "it is skipped; the connector's other smart hosts take its mail"
	if all.Loops {
		what = "its mail would loop back here, so it is deferred (451 4.4.6) and never sent"
	}
	out := make([]string, len(sc.SmartHosts))
	for j, h := range sc.SmartHosts {
		one := delivery.CheckSelf(ctx, r, "", bindings, sc.Name, []string{h}, sc.Port, 0, "")
		if one.Self == "" {
			continue
		}
		how := "is an address this server listens on"
		if host, _, err := mailaddr.SplitHostPort(h); err != nil || net.ParseIP(host) == nil { // the one HOST[:PORT] reading: [::1] is an address
			how = "resolves to " + strings.Join(one.Skipped, ", ") + ", an address this server listens on"
		}
		out[j] = "smart host " + h + " " + how + ": " + what
	}
	return out
}

// selfSmartHostWarnings are the warnings of smart hosts that are this
// server, of the configuration's send connectors and of the topology's
// this server sends through, for serve's start and each reload: the
// smart hosts given as addresses only (no lookup delays a start; config
// check looks names up too, and delivery finds them at each attempt).
// ct and rt are the topology serve or the reload loaded (serverTopologies),
// so the warnings describe the one it runs with.
func selfSmartHostWarnings(cfg *config.Config, ct *config.Topology, rt *routing.Topology) []string {
	ctx := context.Background()
	return append(append(smartHostsThatAreThisServer(ctx, cfg, noDNS{}), topologySmartHostsThatAreThisServer(ctx, cfg, ct, rt, noDNS{})...),
		smartHostsThatAreTopologyServers(cfg, ct, rt)...)
}

// warnAt is a config check warning about the value at path: "file:line:
// warning: " and the message (format and args as for fmt.Sprintf).
func warnAt(cfg *config.Config, path []any, format string, args ...any) string {
	return cfg.ErrorAt("warning: "+fmt.Sprintf(format, args...), path...).Error()
}

// noDNS answers no lookup: without a usable resolver only the smart
// hosts given as addresses are checked.
type noDNS struct{}

func (noDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no resolver", Name: name, IsTemporary: true}
}

func (noDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	return nil, &net.DNSError{Err: "no resolver", Name: host, IsTemporary: true}
}

// ownBindings are the addresses this server's receive connectors
// listen on: a next hop at one of them is this server (delivery.CheckSelf).
func ownBindings(cfg *config.Config) []string {
	var bindings []string
	for _, rc := range cfg.ReceiveConnectors {
		bindings = append(bindings, rc.Bindings...)
	}
	return bindings
}

// heartbeatUnderThrottle warns when a heartbeat's bound (command_timeout,
// at most shadow_heartbeat_timeout) is no longer than auth_throttle's
// max_delay: a primary with the same throttle answers a refused login
// that late, after the heartbeat gave up, and a refusal that comes too
// late counts as a failed heartbeat — a takeover of a live primary.
// It applies only where a heartbeat's login can be throttled: this
// server offers AUTH on a receive connector (its peers' heartbeats log
// in to it), or a send connector logs in to a transport server (its
// own heartbeats log in). The warning is at the line of max_delay
// where it is written, else at the line of the short bound.
func heartbeatUnderThrottle(cfg *config.Config, topo *config.Topology) []string {
	t := cfg.Transport
	if !t.ShadowRedundancyEnabled {
		return nil
	}
	bound := min(time.Duration(t.CommandTimeout), time.Duration(t.ShadowHeartbeatTimeout))
	if max := time.Duration(cfg.AuthThrottle.MaxDelay); max <= 0 || bound > max {
		return nil
	}
	if !heartbeatsLogIn(cfg, topo) {
		return nil
	}
	at := []any{"auth_throttle", "max_delay"}
	if !cfg.Written(at...) {
		at = []any{"transport", "shadow_heartbeat_timeout"}
		if time.Duration(t.CommandTimeout) < time.Duration(t.ShadowHeartbeatTimeout) || !cfg.Written(at...) {
			at = []any{"transport", "command_timeout"}
		}
	}
	return []string{warnAt(cfg, at, "a shadow heartbeat is bounded by %s (transport.command_timeout, at most transport.shadow_heartbeat_timeout), "+
		"no longer than auth_throttle.max_delay (%s): a primary with that throttle answers a refused login after the heartbeat gave up, "+
		"which counts as a failed heartbeat and can take a live primary over; keep the bound above the peers' max_delay",
		bound, time.Duration(cfg.AuthThrottle.MaxDelay))}
}

// heartbeatsLogIn: a heartbeat to or from this server can log in — a
// receive connector offers AUTH, or a send connector logs in to a
// transport server of the topology.
func heartbeatsLogIn(cfg *config.Config, topo *config.Topology) bool {
	for _, rc := range cfg.ReceiveConnectors {
		if len(rc.Auth.Mechanisms) > 0 {
			return true
		}
	}
	if topo == nil {
		return false
	}
	for _, sc := range cfg.SendConnectors {
		if logsInToServer(sc, topo) {
			return true
		}
	}
	return false
}

// logsInToServer: sc logs in to a transport server of the topology, so
// every session to that server (pushes, relays, heartbeats, watch
// sessions) goes through it and its login, though routing never
// chooses it.
func logsInToServer(sc config.SendConnector, topo *config.Topology) bool {
	if sc.Auth.Username == "" {
		return false
	}
	for _, srv := range topo.Servers {
		for _, sh := range sc.SmartHosts {
			if config.SmartHostNames(sh, sc.Port, srv.Name, srv.Address) > 0 {
				return true
			}
		}
	}
	return false
}

// referencedFiles lists the files a configuration needs at start.
func referencedFiles(c *config.Config) []string {
	var out []string
	for _, rc := range c.ReceiveConnectors {
		for _, f := range []string{rc.TLS.CertFile, rc.TLS.KeyFile, rc.TLS.ClientCAFile, rc.Auth.CredentialsFile} {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	for _, sc := range c.SendConnectors {
		if sc.Auth.PasswordFile != "" {
			out = append(out, sc.Auth.PasswordFile)
		}
	}
	if c.Console.Listen != "" {
		cert, key := config.ConsoleCertificate(c)
		for _, f := range []string{cert, key, config.ConsoleCredentials(c)} {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	for _, k := range c.DKIM.Keys {
		out = append(out, k.KeyFile)
	}
	if c.DKIM.ARC.Enabled() {
		out = append(out, c.DKIM.ARC.KeyFile)
	}
	for _, f := range []string{c.Transport.ClientCertFile, c.Transport.ClientKeyFile, c.Topology, c.Recipients.File,
		c.LDAP.BindPasswordFile, c.LDAP.CAFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkAsServe loads what serve loads at start and on SIGHUP, with the
// same functions, without opening the transport database or listening:
// the topology (and this server's place in it), the receive connectors'
// certificates, client CA files and credentials, the transport client
// certificate, the DKIM and ARC keys, the send connectors' passwords
// (issue 11 defect 8), the LDAP directory's password and CA files, the
// outbound CA file, the MTA-STS policy's certificate and the web
// console's certificate and credentials.
// Each loader holds the one copy of the rule for what its file must
// hold; a file it refuses is a config.FileError, reported here at the
// setting's file:line, so config check, serve and a reload refuse it
// alike. Each other refusal carries the summary of what that step sets
// up: only the steps that read files say a file is not valid (rt25 F1:
// the bind check of the source addresses did).
// A loader stops at the first file it refuses; each step runs its
// loader again without that setting (config.Without) until it refuses
// no more, so that every bad file is reported in one run. A refusal
// that is not a file's, once a setting was left out, may be the
// omission's doing and is not reported. With topoOK false (the
// topology was refused before) the steps that need it are left out;
// with sourceOK false (a source address refused before) delivery is
// set up without source addresses, which it would fail to bind again.
func checkAsServe(cfg *config.Config, topoOK, sourceOK bool, r *checkReport, warn func(summary string, err error)) {
	const badFile = ": a file it names is not valid"
	log := slog.New(slog.DiscardHandler)
	table := topology.RoutingTable(cfg)
	steps := []struct {
		summary string // of a refusal that is not a file's
		run     func(c *config.Config) error
		// startOnly: what the step sets up is made at start only, and a
		// reload leaves it as it runs (restartOnly names a change): with
		// warn set (a reload), its refusals are warnings, not refusals
		// of the reload (rr27 F3).
		startOnly bool
	}{
		{badFile, func(c *config.Config) error { // the console's certificate, key and credentials
			_, _, _, err := consoleFiles(c)
			return err
		}, true},
		{badFile, func(c *config.Config) error { // loaded whether or not a policy that uses it is on
			_, err := outboundRoots(c)
			return err
		}, false},
		{badFile, func(c *config.Config) error {
			if c.OutboundTLS.Publish.Listen == "" {
				return nil
			}
			_, err := publishCertificate(c.OutboundTLS.Publish)
			return err
		}, false},
		{badFile, func(c *config.Config) error { // the DKIM and ARC keys, each refused named
			_, err := signing.New(c.DKIM, c.OwnDomain)
			return err
		}, false},
		{": its outbound delivery cannot be set up", func(c *config.Config) error {
			if !topoOK {
				return nil // reported by checkConfig
			}
			topo, err := serverTopology(c)
			if err != nil {
				return err
			}
			noKeys := *c
			noKeys.DKIM = config.DKIM{} // checked by the step before
			if !sourceOK {
				noKeys.Server.SourceAddress = ""
				noKeys.SendConnectors = slices.Clone(c.SendConnectors)
				for i := range noKeys.SendConnectors {
					noKeys.SendConnectors[i].SourceAddress = ""
				}
			}
			dc, err := deliveryConfig(&noKeys, table, topo, nil, nil, log) // the transport client certificate
			if err != nil {
				return err
			}
			if res, err := newResolver(c.DNS, nil); err == nil { // else reported by its own step
				dc.Resolver = res
			}
			d, err := delivery.New(dc) // the send connectors' password files, and the source addresses, bound once
			if err != nil {
				return err
			}
			d.Close()
			return nil
		}, false},
		{": its DNS resolver cannot be set up", func(c *config.Config) error {
			_, err := newResolver(c.DNS, nil) // dns.servers, or a readable /etc/resolv.conf
			return err
		}, true},
		{badFile, func(c *config.Config) error {
			dir, err := newDirectory(c, nil, nil) // reads the ldap password and CA files; does not connect
			if err != nil {
				return err
			}
			if dir != nil {
				defer dir.Close()
			}
			_, err = smtp.NewServer(smtp.ServerConfig{Hostname: c.Server.Name, Connectors: c.ReceiveConnectors, Routing: table,
				Log: log, AuthThrottle: c.AuthThrottle, Postmaster: c.Server.Postmaster, MaxHopCount: c.Transport.MaxHopCount,
				Accounts: accountSource(dir), Reload: warn != nil})
			return err // the receive connectors' certificates and credentials
		}, false},
	}
	for _, st := range steps {
		r := r
		var startOnly checkReport
		if st.startOnly && warn != nil {
			r = &startOnly
		}
		c := cfg
		for range maxFileRefusals {
			err := st.run(c)
			if err == nil {
				break
			}
			fes := fileErrors(err)
			if len(fes) == 0 {
				if c == cfg {
					r.add(st.summary, err)
				}
				break
			}
			next, left := c, 0
			for _, fe := range fes {
				if f, ok := c.FileSetting(fe.Setting...); ok && f == "" {
					continue // a file left out (here or by checkConfig): the omission's doing (rt34 F13)
				}
				n, ok := next.Without(fe.Setting...)
				if !ok && c != cfg {
					continue // a file left out before: the omission's doing
				}
				r.add(badFile, cfg.Place(fe))
				if !ok {
					continue
				}
				if p := config.Partner(fe.Setting...); p != nil {
					if n2, ok := n.Without(p...); ok {
						n = n2
					}
				}
				next, left = n, left+1
			}
			if left == 0 {
				break // nothing more to leave out: the loader would refuse the same
			}
			c = next
		}
		if f := startOnly.failure(); f != nil {
			warn(strings.TrimPrefix(f.summary, ": "), errors.New(strings.Join(f.detail, "\n")))
		}
	}
}

// fileErrors are the config.FileErrors err holds: itself, what it wraps,
// and each of several joined (a loader that names every bad file).
func fileErrors(err error) []*config.FileError {
	if fe, ok := err.(*config.FileError); ok {
		return []*config.FileError{fe}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*config.FileError
		for _, e := range j.Unwrap() {
			out = append(out, fileErrors(e)...)
		}
		return out
	}
	if u := errors.Unwrap(err); u != nil {
		return fileErrors(u)
	}
	return nil
}

// maxFileRefusals bounds the runs of one loader by checkAsServe: far
// more than the file settings of any configuration.
const maxFileRefusals = 256
