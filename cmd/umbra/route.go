package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/jsonsafe"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/topology"
)

func newRouteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "route", Short: "Ask how the topology routes mail"}
	var size int64
	var server, topoFile string
	smtputf8 := true
	explain := &cobra.Command{
		Use:   "explain RECIPIENT...",
		Short: "Show destination, site path with costs, next hop, connector and the reason for every choice (of the configuration the running daemon loaded, else of the files; TLS policy and this-server checks ask the running daemon)",
		Long: `Show destination, site path with costs, next hop, connector and the reason for
every choice, and what RCPT answers each recipient.

All of one configuration: when a daemon answers (--socket, else the socket of the
configuration), the configuration and topology it runs, as it read them at start
or at its last reload (a file edited since without a reload is not explained;
errors the next reload would refuse the files with are a warning on stderr);
else the files as they read now, said once on stderr. The first line of the
output says which ("from the configuration the daemon on SOCKET runs", or
"from the configuration file FILE as it reads now: no daemon answers on
SOCKET"; --json: daemon, from). The routes, path costs, next hops, connectors,
size limits and fan-out copies are worked out here from it.

Some parts ask the running daemon (that one), as only it holds what they need:
  tls policy:   the DANE and MTA-STS policy of a destination leaving by MX (the
                policy cache is in the transport database, which only the daemon
                opens)
  this server:  whether a next hop (an MX host or a smart host) is this server, by
                the daemon's resolver and listening addresses, as a delivery does
  rcpt:         what RCPT answers, by the recipients file, lists and LDAP
                directory the daemon loaded (no callout made), and the mailbox
                databases its directory assigns
Without the daemon the first two say so on their lines ("not looked up", "not
checked"), the rcpt: answers and databases come from the files as they read
now, and the rest of the explanation is complete. With --topology FILE the
rcpt: answers come from the files as they read now even where a daemon answers
(its own are for the topology it runs). The output's second line says where
they come from ("(rcpt: answers from …)"; --json: rcpt_from).

An address RCPT refuses by its address alone (bad syntax, an address literal,
IP-address text, a port, an invalid internationalised domain) has no route: its
only line is RCPT's reply (rcpt:), the others are explained, and the command
exits 64, naming each refusal on standard error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The running daemon's configuration as it loaded it, else
			// the file (said once on stderr): explainConfig.
			cfg, daemon, why, err := explainConfig(cmd)
			if err != nil {
				return err
			}
			daemonTopology := topoFile == "" && daemon != nil // the topology the daemon read, not the file now
			if topoFile == "" {
				topoFile = cfg.Topology
			}
			if !daemonTopology {
				cfg.TopologySource = nil // --topology FILE: that file as it reads now, for the rcpt: lines too
			}
			// The daemon's loaded configuration is explained; the files
			// as they read now are what its next reload reads: what it
			// would refuse there is a warning, not a refusal of the
			// explanation (rt21d M5).
			var reloadErrs []string
			if daemon != nil && cfg.File != "" {
				reloadErrs = nextReloadErrors(cfg.File)
			}
			if len(reloadErrs) > 0 {
				// What is explained, as the header says it (explainedFrom):
				// with --topology FILE, the daemon's configuration with
				// that file, not the topology it runs (rt39 F1).
				what := "the configuration and topology the daemon runs (as loaded at start or at its last reload that succeeded)"
				if !daemonTopology && topoFile != "" {
					what = "the configuration the daemon runs (as loaded at start or at its last reload that succeeded) with the topology " +
						shown(topoFile) + " as it reads now"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: warning: the next reload would fail: the files as they read now are refused; "+
					"explaining %s:\n%s\n", what, strings.Join(reloadErrs, "\n"))
			}
			// The routes of the configuration with this topology, as the
			// daemon would run them: recipients checked against it too.
			cfg.Topology = topoFile
			// Each recipient as RCPT takes it (rcptcheck.go): bare
			// postmaster, a trailing dot, the domain's case. One RCPT
			// refuses by its address alone has no route: RCPT's reply
			// is its only line, the others are explained (rt18c-F6),
			// and the command exits 64 — the worst verdict — naming
			// each refusal on stderr.
			refused := map[int]rcptRefused{}
			var given []string
			var refusals []error
			for i, rcpt := range args {
				addr, err := rcptAddress(cfg, rcpt, smtputf8)
				var rr rcptRefused
				switch {
				case errors.As(err, &rr):
					refused[i] = rr
					refusals = append(refusals, err)
					continue
				case err != nil:
					return &exitError{code: exitUsage, err: err}
				}
				given = append(given, addr)
			}
			if len(given) == 0 {
				return &exitError{code: exitUsage, err: errors.Join(refusals...)}
			}
			all := args
			args = given
			if size < 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--size %d: a message size is not negative", size)}
			}
			table := topology.RoutingTable(cfg)
			if server == "" {
				server = cfg.Server.Name
			}
			ex := routeExplanation{Server: server, Size: size, Copies: []routing.Copy{}, NextReloadErrors: reloadErrs,
				Daemon: daemon != nil, From: explainedFrom(cfg, daemon, daemonTopology, topoFile, why)}
			// What RCPT answers: with the daemon's topology, the daemon's
			// own answer (its lists and directory as loaded); else the
			// files as they read now.
			if ex.Recipients, ex.RcptFrom, err = explainRecipients(cmd, daemon, daemonTopology, why, cfg, table, args); err != nil {
				return err
			}
			var tp *routing.Topology
			if topoFile == "" && mailaddr.NameKey(server) != mailaddr.NameKey(cfg.Server.Name) {
				// Without a topology this server is the only one to route
				// as: another name (a misspelling) must not be ignored.
				return &exitError{code: exitNotFound, err: shownErr(jsonsafe.Textf("server \"%s\": without a topology (--topology, or topology: in the configuration) "+
					"routes are explained as this server only; valid: %s", jsonsafe.TextBytes(server), jsonsafe.TextBytes(cfg.Server.Name)))}
			}
			if topoFile == "" {
				server, ex.Server = cfg.Server.Name, cfg.Server.Name // in any spelling of it
				// No topology: the send connector choice of the
				// configuration (RT-9), as the daemon makes it.
				for _, rcpt := range args {
					ex.Routes = append(ex.Routes, connectorSizeLimit(cfg, table.Explain(rcpt), size))
				}
			} else {
				var err error
				if daemonTopology && cfg.TopologySource != nil {
					tp, err = topology.Parse(cfg.TopologySource, topoFile)
				} else {
					tp, err = loadTopology(topoFile)
				}
				if err != nil {
					return &exitError{code: exitConfig, err: err}
				}
				if mailaddr.NameKey(server) == mailaddr.NameKey(cfg.Server.Name) && !daemonTopology { // the daemon runs it: serve or its reload accepted it
					// The checks serve and a reload make of this server
					// against the topology (its place in it, its own
					// mailbox store, shadow copies on receipt): a route
					// is not explained for a configuration and topology
					// the daemon refuses to run. Before the server is
					// looked up in it: a topology without this server
					// is that refusal at server.name's line (exit 2),
					// not an unknown --server (exit 3; rt24c F8).
					if _, err := serverTopology(cfg); err != nil {
						// By the configuration's text rule, as serve
						// refuses it (configText: the topology quoted
						// as Go does, its \n written once).
						return &exitError{code: exitConfig, err: configShown(configText(err.Error(), configErrorFiles(err)...) + "\n" + orDefault(shown(cfg.File), "the configuration") +
							configText(" with the topology "+config.ShownPath(topoFile)+" is refused by serve and reload: no route to explain"))}
					}
				}
				s, ok := tp.Server(server)
				if !ok {
					return &exitError{code: exitNotFound, err: jsonsafe.Textf("server %s is not in %s", queue.QuoteShown(server), shown(topoFile))}
				}
				// A server's name is a host name: --server Hub-A. is
				// the topology's hub-a (rt51 F9).
				server, ex.Server = s.Name, s.Name
				// The directory's mailbox database assignments, as the
				// daemon routes by them: the daemon's directory when one
				// answers (GET /v1/mailboxdb), else one built from the
				// files (ldap.go).
				closeDir, err := explainDatabases(cmd, daemon, tp, cfg)
				if err != nil {
					return err
				}
				defer closeDir()
				ex.Topology = shown(topoFile) // as every answer names a file given
				for _, rcpt := range args {
					domain := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
					ex.Routes = append(ex.Routes, tp.Explain(server, rcpt, size, table.Accepted(domain)))
				}
				// How the recipients leave as copies (delayed fan-out,
				// RT-6): those RCPT takes — one it refuses is in no
				// message, so in no copy (rt39 F6).
				var taken []routing.Route
				var at []int
				for i, r := range ex.Routes {
					if i < len(ex.Recipients) && !rcptTakes(ex.Recipients[i].RCPT) {
						ex.CopiesLeftOut = append(ex.CopiesLeftOut, r.Recipient)
						continue
					}
					taken, at = append(taken, r), append(at, i)
				}
				if c := tp.FanOut(server, taken); c != nil {
					ex.Copies = c
				}
				for j, i := range at {
					ex.Routes[i] = taken[j] // as the fan-out left them (a delayed hop)
				}
			}
			// Routed as another server of the topology, the accepted
			// domains, the store and RCPT's answers are still this
			// server's settings: umbra reads no other server's
			// configuration (rt41 F5). Said so, and no store of this
			// server is named as that server's.
			if tp != nil && mailaddr.NameKey(server) != mailaddr.NameKey(cfg.Server.Name) {
				ex.SettingsOf = cfg.Server.Name
				for i := range ex.Routes {
					otherStore(server, cfg.Server.Name, &ex.Routes[i])
				}
			} else {
				for i := range ex.Routes {
					ownStore(cfg, &ex.Routes[i])
				}
			}
			ex.TLS = explainTLS(daemon, why, cfg, tp, ex.Routes) // the outbound TLS policy and its source
			var fileHosts func(string) []string
			if daemon != nil && !daemonTopology && tp != nil {
				// --topology FILE: the daemon checks FILE's smart hosts
				// (a configured connector's own, else FILE's), not
				// those of the topology it runs (rt39 F1).
				fileHosts = func(name string) []string {
					for _, sc := range cfg.SendConnectors {
						if sc.Name == name && len(sc.SmartHosts) > 0 {
							return sc.SmartHosts
						}
					}
					if tc, ok := tp.Connector(name); ok {
						return tc.SmartHosts
					}
					return nil
				}
			}
			ex.Self = explainSelf(daemon, why, fileHosts, cfg, server, ex.Routes)
			if len(refused) > 0 {
				// The refused addresses in their places, with RCPT's reply.
				routes, checks := ex.Routes, ex.Recipients
				ex.Routes, ex.Recipients = nil, nil
				for i, rcpt := range all {
					if rr, ok := refused[i]; ok {
						ex.Routes = append(ex.Routes, routing.Route{Recipient: rcpt})
						ex.Recipients = append(ex.Recipients, rcptCheck{Address: jsonsafe.TextBytes(rcpt), RCPT: rr.reply, Refused: true})
						continue
					}
					ex.Routes, ex.Recipients = append(ex.Routes, routes[0]), append(ex.Recipients, checks[0])
					routes, checks = routes[1:], checks[1:]
				}
			}
			// Each address as every answer names a value from outside,
			// by the one rule (jsonsafe.TextBytes: a byte that is not
			// UTF-8 as \xNN, not U+FFFD), as checkAddresses names it; the
			// text prints it as a field (termSafe).
			for i := range ex.Routes {
				ex.Routes[i].Recipient = jsonsafe.TextBytes(ex.Routes[i].Recipient)
				ex.Routes[i].Expand = textBytesAll(ex.Routes[i].Expand)
			}
			for i := range ex.Copies {
				ex.Copies[i].Recipients = textBytesAll(ex.Copies[i].Recipients)
			}
			ex.CopiesLeftOut = textBytesAll(ex.CopiesLeftOut)
			for i := range ex.TLS {
				ex.TLS[i].Recipient = jsonsafe.TextBytes(ex.TLS[i].Recipient)
			}
			for i := range ex.Self {
				ex.Self[i].Recipient = jsonsafe.TextBytes(ex.Self[i].Recipient)
			}
			if wantJSON(cmd) {
				if err := printJSON(cmd.OutOrStdout(), ex); err != nil {
					return err
				}
			} else {
				printExplanation(cmd.OutOrStdout(), ex)
			}
			if len(refusals) > 0 {
				return &exitError{code: exitUsage, err: errors.Join(refusals...)}
			}
			return nil
		},
	}
	int64Flag(explain.Flags(), &size, "size", 0, "message size in bytes (size limits on the path)")
	explain.Flags().StringVar(&server, "server", "", "route as this server of the topology (default: server.name)")
	explain.Flags().StringVar(&topoFile, "topology", "", "topology file (default: topology: of the configuration)")
	explain.Flags().BoolVar(&smtputf8, "smtputf8", true, "explain as a client that said SMTPUTF8 at MAIL (false: one that did not, whom RCPT refuses an address with a non-ASCII character: 553 5.6.7)")
	cmd.AddCommand(explain)
	return cmd
}

// routeExplanation is what `route explain` prints (--json: this object).
type routeExplanation struct {
	Server   string `json:"server"`
	Size     int64  `json:"size"`
	Topology string `json:"topology,omitempty"` // "": none, send connector choice only
	// RcptFrom says where the rcpt: answers come from: the daemon on
	// its socket (its lists and directory as loaded), or the files as
	// they read now, and why (no daemon answers; --topology FILE).
	RcptFrom string          `json:"rcpt_from,omitempty"`
	Routes   []routing.Route `json:"routes"`
	// Copies: how the recipients are grouped into copies of the message
	// and where each copy forks (with a topology; always a list, empty
	// without one).
	Copies []routing.Copy `json:"copies"`
	// CopiesLeftOut: the recipients in no copy, since RCPT refuses them
	// (a 4xx or 5xx rcpt): a recipient refused is in no message.
	CopiesLeftOut []string `json:"copies_left_out,omitempty"`
	// TLS: the outbound TLS policy of each recipient leaving through a
	// send connector, and where it comes from (routetls.go).
	TLS []routeTLS `json:"tls,omitempty"`
	// Self: the next hops of each recipient leaving through a send
	// connector that are this server, and whether its mail loops back
	// here (routeself.go; routed as this server only).
	Self []routeSelf `json:"self,omitempty"`
	// SettingsOf names this server when the route is explained as
	// another server of the topology (--server): the accepted domains,
	// the mailbox store and the rcpt: answers are this server's
	// settings, the only configuration umbra reads (rt41 F5).
	SettingsOf string `json:"settings_of,omitempty"`
	// Recipients: what RCPT answers each recipient (rcptcheck.go), in
	// the order of Routes.
	Recipients []rcptCheck `json:"recipients"`
	// NextReloadErrors: when a daemon answered, the errors (file:line:
	// message) its next reload would refuse the configuration file and
	// its topology with as they read now (nextReloadErrors); the
	// routing explained is the daemon's loaded one all the same.
	NextReloadErrors []string `json:"next_reload_errors,omitempty"`
	// Daemon: the explanation is of the configuration, recipients and
	// directory a running daemon loaded (it answered); false: of the
	// files as they read now, no daemon answered (From says why).
	Daemon bool `json:"daemon"`
	// From says in words what is explained: "the configuration the
	// daemon on SOCKET runs (FILE, as loaded …)" or "the configuration
	// file FILE as it reads now: no daemon answered on SOCKET".
	From string `json:"from"`
}

// explainedFrom is routeExplanation.From: what the explanation is of.
func explainedFrom(cfg *config.Config, daemon *admin.Client, daemonTopology bool, topoFile, why string) string {
	file := orDefault(shown(cfg.File), "the embedded default configuration") // names on one line, escaped once (shown)
	if daemon != nil && !daemonTopology && topoFile != "" {
		// --topology FILE: the daemon's configuration with that file's
		// topology; the rcpt: answers are the files' (rcpt_from).
		return fmt.Sprintf("the configuration the daemon on %s runs (%s, as loaded at its start or last reload) with the topology %s as it reads now, and its directory",
			shown(daemon.Path()), file, shown(topoFile))
	}
	if daemon != nil {
		return fmt.Sprintf("the configuration the daemon on %s runs (%s, as loaded at its start or last reload), its recipients and directory",
			shown(daemon.Path()), file)
	}
	if cfg.File == "" {
		return fmt.Sprintf("the embedded default configuration: %s", why)
	}
	return fmt.Sprintf("the configuration file %s as it reads now: %s", file, why)
}

// explainRecipients is what RCPT answers each address: the daemon's own
// answer when one runs the configuration explained with its topology
// (GET /v1/rcptcheck: its recipients file, lists and LDAP directory as
// it loaded them — never the files as edited since, nor a directory
// built here from its password and CA files); else the files as they
// read now (checkRecipients). A daemon older than the endpoint is said
// on stderr, and the files answer. from says which answered (the
// output's "(rcpt: answers from …)" line, rcpt_from in --json): with
// --topology FILE the answers are the files', checked against that
// topology, even where a daemon answers — its own are for the topology
// it runs. why is why no daemon was asked (explainConfig), when none was.
func explainRecipients(cmd *cobra.Command, daemon *admin.Client, daemonTopology bool, why string, cfg *config.Config, table *routing.Table, addrs []string) (checks []rcptCheck, from string, err error) {
	if daemon != nil && !daemonTopology {
		why = fmt.Sprintf("--topology %s: the daemon on %s answers for the topology it runs", shown(cfg.Topology), shown(daemon.Path()))
	}
	if daemon != nil && daemonTopology {
		var out []rcptCheck
		err := daemon.RecipientCheck(addrs, &out)
		var ae *admin.APIError
		switch {
		case err == nil && len(out) == len(addrs):
			return out, fmt.Sprintf("the daemon on %s (its recipients file, lists and LDAP directory as loaded at its start or last reload; no callout made)", shown(daemon.Path())), nil
		case err == nil:
			return nil, "", &exitError{code: exitFailure, err: jsonsafe.Textf("the daemon on %s answered %s for %s", shown(daemon.Path()), plural(len(out), "recipient check"), nouns(len(addrs), "address", "addresses"))}
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			fmt.Fprintf(cmd.ErrOrStderr(), "umbra: the daemon on %s does not check recipients (a release before GET /v1/rcptcheck): "+
				"the rcpt: lines are of the files as they read now\n", shown(daemon.Path()))
			why = fmt.Sprintf("the daemon on %s does not check recipients (a release before GET /v1/rcptcheck)", shown(daemon.Path()))
		default:
			return nil, "", apiErr(err)
		}
	}
	checks, err = checkRecipients(cmd.Context(), cfg, table, addrs)
	if err != nil {
		return nil, "", &exitError{code: exitConfig, err: err}
	}
	return checks, fmt.Sprintf("the recipients file and directory of %s as they read now (%s)", orDefault(shown(cfg.File), "the embedded default configuration"), why), nil
}

// explainDatabases makes tp ask for the mailbox database assignments as
// the daemon routes by them: the daemon's directory when one answers
// (GET /v1/mailboxdb: the directory it connected at its start — the
// ldap section applies at a restart, so the text it last reloaded may
// name other settings —; a daemon whose directory assigns none says so,
// and none is asked), else, when the ldap section names a database
// attribute, a directory built from the files (its password and CA files
// as they read now). close ends what was opened here.
func explainDatabases(cmd *cobra.Command, daemon *admin.Client, tp *routing.Topology, cfg *config.Config) (close func(), err error) {
	if daemon != nil {
		// A question without an address first, which asks no
		// directory: 400 where the daemon's directory assigns
		// databases, 404 with its reason where none does, a bare 404
		// from a daemon older than the endpoint.
		_, _, err := daemon.MailboxDatabase("")
		var ae *admin.APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			tp.SetDatabases(daemonDatabases{daemon})
			return func() {}, nil
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Msg != "":
			return func() {}, nil
		case !errors.As(err, &ae) || ae.Status != http.StatusNotFound:
			return nil, apiErr(err)
		}
		if cfg.LDAP.Enabled() && cfg.LDAP.DatabaseAttribute != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "umbra: the daemon on %s does not give its directory's mailbox databases (a release before GET /v1/mailboxdb): "+
				"the directory is asked with the ldap settings of the files as they read now\n", shown(daemon.Path()))
		}
	}
	if !cfg.LDAP.Enabled() || cfg.LDAP.DatabaseAttribute == "" {
		return func() {}, nil
	}
	dir, err := newDirectory(cfg, nil, nil)
	if err != nil {
		return nil, &exitError{code: exitConfig, err: err}
	}
	if dir == nil {
		return func() {}, nil
	}
	withDirectoryDatabases(tp, cfg, dir)
	return func() { dir.Close() }, nil
}

// daemonDatabases is the running daemon's directory as the topology's
// source of mailbox databases (routing.DatabaseSource): every question
// asks the daemon, which answers from its directory's cache or asks its
// directory.
type daemonDatabases struct{ c *admin.Client }

func (d daemonDatabases) MailboxDatabase(_ context.Context, rcpt string) (string, bool, error) {
	return d.c.MailboxDatabase(rcpt)
}

func (d daemonDatabases) CachedMailboxDatabase(string) (string, bool, bool) { return "", false, false }

// nextReloadErrors are the errors, one a line, with which the daemon's
// next reload would refuse its configuration file (file) and the
// topology that file names, as they read now: the file's own
// validation and the checks serve and a reload make of this server
// against the topology (serverTopology). The files a setting names
// beyond the topology (keys, credentials) are not read here, and a
// file this user may not read says nothing: route explain may run as
// another user than the daemon.
func nextReloadErrors(file string) []string {
	disk, err := config.Load(file)
	if err == nil && disk.Topology != "" {
		_, err = serverTopology(disk)
	}
	if err == nil || errors.Is(err, fs.ErrPermission) {
		return nil
	}
	var out []string
	for _, l := range strings.Split(errorText(err), "\n") { // the text rule of every output of these errors (logging.go)
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func printExplanation(out io.Writer, ex routeExplanation) {
	if ex.From != "" {
		fmt.Fprintf(out, "(from %s)\n", ex.From)
	}
	if ex.RcptFrom != "" {
		fmt.Fprintf(out, "(rcpt: answers from %s)\n", ex.RcptFrom)
	}
	if ex.Topology == "" {
		fmt.Fprintf(out, "(no topology: send connector choice of the configuration only)\n")
	}
	if ex.SettingsOf != "" {
		fmt.Fprintf(out, "(--server %s: umbra knows its place in the topology, not its configuration: the accepted domains, the mailbox store and the rcpt: answers below are this server's (%s); %s's own may differ)\n",
			ex.Server, ex.SettingsOf, ex.Server)
	}
	for i, r := range ex.Routes {
		if i > 0 || ex.Topology == "" {
			fmt.Fprintln(out)
		}
		if i < len(ex.Recipients) && ex.Recipients[i].Refused {
			// Refused by RCPT for its address alone: no route.
			fmt.Fprintf(out, "%s (from %s, %d bytes)\n  rcpt:        %s\n", termSafe(r.Recipient), ex.Server, ex.Size, ex.Recipients[i].RCPT)
			continue
		}
		fmt.Fprintf(out, "%s (from %s, %d bytes)\n  destination: %s\n", termSafe(r.Recipient), ex.Server, ex.Size, orDash(r.Destination))
		if i < len(ex.Recipients) {
			fmt.Fprintf(out, "  rcpt:        %s\n", ex.Recipients[i].RCPT)
			if n := ex.Recipients[i].SMTPUTF8; n != "" {
				fmt.Fprintf(out, "  smtputf8:    %s\n", n)
			}
		}
		if len(r.Path) > 0 {
			var steps []string
			for _, p := range r.Path {
				st := fmt.Sprintf("%s[%d]", p.Site, p.Cost)
				if p.HubSite {
					st += "*"
				}
				steps = append(steps, st)
			}
			fmt.Fprintf(out, "  path:        %s   (summed cost; * hub site)\n", strings.Join(steps, " -> "))
		}
		if r.NDR != "" {
			fmt.Fprintf(out, "  result:      bounce: %s\n", r.NDR)
		}
		if len(r.Expand) > 0 {
			fmt.Fprintf(out, "  expands to:  %s\n", strings.Join(termSafeAll(r.Expand), ", "))
		}
		for j, h := range r.NextHops {
			label := "next hop:   "
			if j > 0 {
				label = "else:       "
			}
			fmt.Fprintf(out, "  %s %s\n", label, describeHopAs(h, ex))
		}
		for _, why := range r.Reasons {
			fmt.Fprintf(out, "  - %s\n", why)
		}
		for _, s := range ex.Self {
			if s.Recipient == r.Recipient {
				printRouteSelf(out, s)
			}
		}
		for _, t := range ex.TLS {
			if t.Recipient == r.Recipient {
				printRouteTLS(out, t)
			}
		}
	}
	if len(ex.Copies) > 0 && len(ex.Routes) > 1 {
		fmt.Fprintf(out, "\ncopies (delayed fan-out, RT-6): %d\n", len(ex.Copies))
		for i, c := range ex.Copies {
			fork := "not split again"
			if c.ForkSite != "" {
				fork = "forks at site " + c.ForkSite
			}
			how := ""
			if c.Delayed {
				how = " (to the fork site, not straight to the destinations)"
			}
			fmt.Fprintf(out, "  copy %d: %s\n    next hop: %s%s; %s\n", i+1, strings.Join(termSafeAll(c.Recipients), ", "), describeHopAs(c.NextHops[0], ex), how, fork)
		}
	}
	if len(ex.CopiesLeftOut) > 0 && len(ex.Routes) > 1 {
		for _, r := range ex.CopiesLeftOut {
			reply := ""
			for i, c := range ex.Recipients {
				if i < len(ex.Routes) && ex.Routes[i].Recipient == r {
					reply = c.RCPT
				}
			}
			fmt.Fprintf(out, "  in no copy: %s (RCPT refuses it: %s; a recipient refused is in no message)\n", termSafe(r), termSafe(reply))
		}
	}
}

// rcptTakes reports whether RCPT takes a recipient by its rcpt: line:
// a 2xx, or a callout that the next hop decides at RCPT; a 4xx or 5xx
// refuses it.
func rcptTakes(rcpt string) bool {
	return !strings.HasPrefix(rcpt, "4") && !strings.HasPrefix(rcpt, "5")
}

// describeHopAs is describeHop for the server ex explains: another
// server's own store is that server's, not this one's (SettingsOf).
func describeHopAs(h routing.NextHop, ex routeExplanation) string {
	if h.Kind == routing.HopMailbox && len(h.Servers) == 0 && ex.SettingsOf != "" {
		return "deliver into " + ex.Server + "'s own mailbox store (not known here)"
	}
	return describeHop(h)
}

func describeHop(h routing.NextHop) string {
	switch h.Kind {
	case routing.HopConnector:
		return "deliver through send connector " + h.Connector
	case routing.HopMailbox:
		if len(h.Servers) == 0 {
			return "deliver into this server's mailbox store"
		}
		return "deliver to mailbox server " + strings.Join(h.Servers, ", ")
	case routing.HopLegacy:
		return "hand to legacy servers " + strings.Join(h.Servers, ", ")
	}
	if len(h.Servers) == 0 {
		return "site " + h.Site + " (no hub there yet)"
	}
	return "relay to site " + h.Site + " via " + strings.Join(h.Servers, ", ")
}

// connectorSizeLimit applies the chosen send connector's max_message_size
// to a route explained without a topology, as delivery does (552 5.3.4,
// same text): explain and the daemon agree on what bounces.
func connectorSizeLimit(cfg *config.Config, r routing.Route, size int64) routing.Route {
	if len(r.NextHops) != 1 || r.NextHops[0].Kind != routing.HopConnector {
		return r
	}
	for _, sc := range cfg.SendConnectors {
		if sc.Name != r.NextHops[0].Connector {
			continue
		}
		if max := int64(sc.MaxMessageSize); max > 0 && size > max {
			r.NDR = fmt.Sprintf("552 5.3.4 message size %d exceeds the limit %d of send connector %s", size, max, sc.Name)
			r.Reasons = append(r.Reasons, fmt.Sprintf("send connector %s limits messages to %d bytes: the message bounces", sc.Name, max))
		} else if max > 0 {
			r.Reasons = append(r.Reasons, fmt.Sprintf("send connector %s limits messages to %d bytes: this size passes", sc.Name, max))
		}
	}
	return r
}

// ownStore names this server's mailbox store in a route into it (a
// mailbox next hop with no server: routing does not know the store),
// as delivery uses it: its queue mailbox:DATABASE and where it writes.
func ownStore(cfg *config.Config, r *routing.Route) {
	if len(r.NextHops) == 0 || r.NextHops[0].Kind != routing.HopMailbox || len(r.NextHops[0].Servers) > 0 {
		return
	}
	m := cfg.Mailbox
	switch {
	case m.Maildir != "":
		r.Reasons = append(r.Reasons, fmt.Sprintf("this server's mailbox store: Maildir %s, database %s (queue mailbox:%s)", m.Maildir, m.Database, m.Database))
	case m.LMTP != "":
		r.Reasons = append(r.Reasons, fmt.Sprintf("this server's mailbox store: LMTP %s, database %s (queue mailbox:%s)", m.LMTP, m.Database, m.Database))
	default:
		r.Reasons = append(r.Reasons, "this server has no mailbox store (mailbox:): the message waits")
	}
}

// otherStore is ownStore for a route explained as another server of the
// topology (--server): that server's store is in its configuration,
// which umbra does not read, and the domain was found authoritative by
// this server's accepted_domains (self), not by that server's.
func otherStore(server, self string, r *routing.Route) {
	if len(r.NextHops) == 0 || r.NextHops[0].Kind != routing.HopMailbox || len(r.NextHops[0].Servers) > 0 {
		return
	}
	for i, why := range r.Reasons {
		why = strings.Replace(why, " is authoritative on this server ", fmt.Sprintf(" is authoritative by this server's (%s) accepted_domains ", self), 1)
		why = strings.Replace(why, "deliver into this server's own mailbox store (mailbox: of its configuration)",
			fmt.Sprintf("deliver into %s's own mailbox store (mailbox: of its configuration)", server), 1)
		r.Reasons[i] = why
	}
	r.Reasons = append(r.Reasons, fmt.Sprintf("%s's mailbox store and accepted domains are in its configuration, not known here", server))
}

// textBytesAll is each of vs by the one rule (jsonsafe.TextBytes), in a
// new slice.
func textBytesAll(vs []string) []string {
	if vs == nil {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = jsonsafe.TextBytes(v)
	}
	return out
}

// termSafeAll is each of vs as a field of the text (termSafe).
func termSafeAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = termSafe(v)
	}
	return out
}
