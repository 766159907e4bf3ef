package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/topology"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file and the files it names; errors give file:line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// --json: the verdict as one object on standard output
			// (configCheckResult), the exit code as without it.
			res := configCheckResult{File: args[0], Errors: []string{}, Warnings: []string{}}
			refuse := func(lines []string, summary error) error {
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
				res.Warnings = append(res.Warnings, line)
				if !wantJSON(cmd) {
					fmt.Fprintln(cmd.ErrOrStderr(), line)
				}
			}
			cfg, err := config.Load(args[0])
			if err != nil {
				if es, ok := err.(config.Errors); ok {
					return refuse(strings.Split(es.Error(), "\n"), fmt.Errorf("%s is not valid", args[0]))
				}
				if !wantJSON(cmd) {
					return &exitError{code: exitConfig, err: err} // one line: main prints it
				}
				return refuse([]string{err.Error()}, err)
			}
			if f := checkConfig(cfg); f != nil {
				return refuse(f.detail, fmt.Errorf("%s%s", args[0], f.summary))
			}
			warnings := append(unusedSendConnectors(cfg), heartbeatUnderThrottle(cfg)...)
			// Smart hosts given by name are looked up with the server's
			// resolver (dns:), bounded: a check does not hang on DNS.
			var r delivery.Resolver = noDNS{}
			if c, err := newResolver(cfg.DNS, nil); err == nil {
				r = c
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			warnings = append(warnings, smartHostsThatAreThisServer(ctx, cfg, r)...)
			cancel()
			for _, w := range warnings {
				warn(args[0] + ": warning: " + w)
			}
			for _, w := range inertMXLimits(cfg) {
				warn(args[0] + ": warning: " + w)
			}
			receiptWarnings, _ := receiptWithoutCandidates(cfg, checkedTopology(cfg)) // its errors: checkConfig
			for _, w := range receiptWarnings {
				warn(w)
			}
			if ws, err := localStoreCheck(cfg); err == nil { // an error was reported above, by serverTopology
				for _, w := range ws {
					warn(w)
				}
			}
			res.OK, res.Role, res.Server = true, cfg.Server.Role, cfg.Server.Name
			res.ReceiveConnectors, res.SendConnectors = len(cfg.ReceiveConnectors), len(cfg.SendConnectors)
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s %s, %d receive and %d send connectors)\n", args[0],
				cfg.Server.Role, cfg.Server.Name, len(cfg.ReceiveConnectors), len(cfg.SendConnectors))
			return nil
		},
	}
	cmd.AddCommand(check)
	return cmd
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
}

// checkFailure is why checkConfig refuses a configuration: the lines
// config check prints (file:line where there is one) and its summary
// after the file name.
type checkFailure struct {
	detail  []string
	summary string
}

func (f *checkFailure) Error() string {
	return strings.Join(f.detail, "\n")
}

// checkConfig runs every check of a loaded configuration beyond its own
// file: the files it names, the topology and this server's place in it,
// the recipient directory, and every file read by the code serve reads
// it with. config check runs it, and serve runs it before it touches the
// data directory: a configuration serve would refuse leaves no database
// behind.
func checkConfig(cfg *config.Config) *checkFailure {
	fail := func(summary string, err error) *checkFailure {
		return &checkFailure{detail: []string{err.Error()}, summary: summary}
	}
	// Each file setting at its line; then the files derived from
	// others (the console's defaults), by name.
	if err := cfg.UnreadableFiles(); err != nil {
		return fail(" names files that cannot be read", err)
	}
	// Listeners on addresses of this machine, at their lines.
	if err := cfg.ListenersNotHere(); err != nil {
		return fail(" listens on an address this machine does not have", err)
	}
	// Outbound source addresses too, at their lines.
	if err := cfg.SourceAddressesNotHere(); err != nil {
		return fail(" binds outbound connections to an address this machine does not have", err)
	}
	var missing []string
	for _, f := range referencedFiles(cfg) {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, orDefault(cfg.File, "the configuration")+": "+err.Error())
		}
	}
	if len(missing) > 0 {
		return &checkFailure{detail: missing, summary: " names files that cannot be read"}
	}
	// The topology first: its errors are the topology's, not the
	// recipient directory's (which reads its addresses from it).
	if cfg.Topology != "" {
		if _, err := serverTopology(cfg); err != nil {
			if errors.As(err, new(localStoreError)) {
				return fail(": its mailbox store does not fit the topology "+cfg.Topology, err)
			}
			if es, ok := err.(config.Errors); ok && len(es) > 0 && es[0].File == cfg.File {
				return fail(" does not fit the topology "+cfg.Topology, err) // a binding on another server's address
			}
			return fail(": the topology "+cfg.Topology+" is not valid", err)
		}
	}
	// The recipient directory sources parse as at start (file:line).
	if _, err := recipientValidator(cfg, nil, nil, slog.New(slog.DiscardHandler)); err != nil {
		return fail(": the recipient directory is not valid", err)
	}
	// shadow_on_receipt against the candidates the topology gives.
	if _, err := receiptWithoutCandidates(cfg, checkedTopology(cfg)); err != nil {
		return fail(": a connector's shadow copy on receipt has no shadow server", err)
	}
	// Every other file is read by the code serve reads it with.
	return checkAsServe(cfg)
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

// unusedSendConnectors names the configured send connectors that routing
// never uses: with a topology, routing chooses among the topology's send
// connectors, and a send connector of the configuration file only gives
// its settings (port, TLS, auth, source address) to the topology
// connector of the same name.
func unusedSendConnectors(cfg *config.Config) []string {
	if cfg.Topology == "" || len(cfg.SendConnectors) == 0 {
		return nil
	}
	topo, err := config.LoadTopology(cfg.Topology)
	if err != nil {
		return nil // reported by the checks before
	}
	names := map[string]bool{}
	for _, sc := range topo.SendConnectors {
		names[sc.Name] = true
	}
	var out []string
	for _, sc := range cfg.SendConnectors {
		if !names[sc.Name] && !logsInToServer(sc, topo) {
			out = append(out, fmt.Sprintf("send connector %q is not used: with a topology (%s) routing chooses among the topology's send connectors, "+
				"and a configured one only gives its settings to the topology connector of the same name", sc.Name, cfg.Topology))
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
	for _, sc := range cfg.SendConnectors {
		if len(sc.SmartHosts) == 0 {
			continue
		}
		// What delivery finds for the connector's mail (delivery.CheckSelf:
		// the same lookups and the same rule), then which smart host it is.
		all := delivery.CheckSelf(ctx, r, bindings, sc.Name, sc.SmartHosts, sc.Port, "")
		if all.Self == "" {
			continue
		}
		what := "it is skipped; the connector's other smart hosts take its mail"
		if all.Loops {
			what = "its mail would loop back here, so it is deferred (451 4.4.6) and never sent"
		}
		for _, h := range sc.SmartHosts {
			one := delivery.CheckSelf(ctx, r, bindings, sc.Name, []string{h}, sc.Port, "")
			if one.Self == "" {
				continue
			}
			how := "is an address this server listens on"
			if ip, _, err := net.SplitHostPort(h); net.ParseIP(h) == nil && (err != nil || net.ParseIP(ip) == nil) {
				how = "resolves to " + strings.Join(one.Skipped, ", ") + ", an address this server listens on"
			}
			out = append(out, fmt.Sprintf("send connector %s: smart host %s %s: %s", sc.Name, h, how, what))
		}
	}
	return out
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
func heartbeatUnderThrottle(cfg *config.Config) []string {
	t := cfg.Transport
	if !t.ShadowRedundancyEnabled {
		return nil
	}
	bound := min(time.Duration(t.CommandTimeout), time.Duration(t.ShadowHeartbeatTimeout))
	if max := time.Duration(cfg.AuthThrottle.MaxDelay); max <= 0 || bound > max {
		return nil
	}
	return []string{fmt.Sprintf("a shadow heartbeat is bounded by %s (transport.command_timeout, at most transport.shadow_heartbeat_timeout), "+
		"no longer than auth_throttle.max_delay (%s): a primary with that throttle answers a refused login after the heartbeat gave up, "+
		"which counts as a failed heartbeat and can take a live primary over; keep the bound above the peers' max_delay",
		bound, time.Duration(cfg.AuthThrottle.MaxDelay))}
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
func checkAsServe(cfg *config.Config) *checkFailure {
	const badFile = ": a file it names is not valid"
	fail := func(summary string, err error) *checkFailure {
		if errors.As(err, new(*config.FileError)) {
			summary, err = badFile, cfg.Place(err)
		}
		return &checkFailure{detail: []string{err.Error()}, summary: summary}
	}
	log := slog.New(slog.DiscardHandler)
	if _, _, _, err := consoleFiles(cfg); err != nil {
		return fail(badFile, err) // the console's certificate, key and credentials
	}
	if _, err := outboundRoots(cfg.OutboundTLS); err != nil {
		return fail(badFile, err) // loaded whether or not a policy that uses it is on
	}
	if cfg.OutboundTLS.Publish.Listen != "" {
		if _, err := publishCertificate(cfg.OutboundTLS.Publish); err != nil {
			return fail(badFile, err)
		}
	}
	table := topology.RoutingTable(cfg)
	topo, err := serverTopology(cfg)
	if err != nil {
		return fail(": the topology "+cfg.Topology+" is not valid", err) // reported by checkConfig before
	}
	dc, err := deliveryConfig(cfg, table, topo, nil, nil, log)
	if err != nil {
		return fail(badFile, err) // the transport client certificate, the DKIM and ARC keys
	}
	if dc.Resolver, err = newResolver(cfg.DNS, nil); err != nil { // dns.servers, or a readable /etc/resolv.conf
		return fail(": its DNS resolver cannot be set up", err)
	}
	d, err := delivery.New(dc)
	if err != nil {
		// The send connectors' password files, and the source
		// addresses, bound once.
		return fail(": its outbound delivery cannot be set up", err)
	}
	d.Close()
	dir, err := newDirectory(cfg, nil) // reads the ldap password and CA files; does not connect
	if err != nil {
		return fail(badFile, err)
	}
	if dir != nil {
		defer dir.Close()
	}
	_, err = smtp.NewServer(smtp.ServerConfig{Hostname: cfg.Server.Name, Connectors: cfg.ReceiveConnectors, Routing: table,
		Log: log, AuthThrottle: cfg.AuthThrottle, Postmaster: cfg.Server.Postmaster, MaxHopCount: cfg.Transport.MaxHopCount,
		Accounts: accountSource(dir)})
	if err != nil {
		return fail(badFile, err) // the receive connectors' certificates and credentials
	}
	return nil
}
