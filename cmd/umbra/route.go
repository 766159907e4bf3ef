package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"umbra/internal/routing"
)

func newRouteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "route", Short: "Ask how the topology routes mail"}
	var size int64
	var server, topoFile string
	explain := &cobra.Command{
		Use:   "explain RECIPIENT...",
		Short: "Show destination, site path with costs, next hop, connector and the reason for every choice (offline)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return &exitError{code: exitConfig, err: err}
			}
			if topoFile == "" {
				topoFile = cfg.Topology
			}
			if topoFile == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("no topology: give --topology FILE or set topology: in the configuration")}
			}
			tp, err := loadTopology(topoFile)
			if err != nil {
				return &exitError{code: exitConfig, err: err}
			}
			if server == "" {
				server = cfg.Server.Name
			}
			if _, ok := tp.Server(server); !ok {
				return &exitError{code: exitNotFound, err: fmt.Errorf("server %q is not in %s", server, topoFile)}
			}
			table := routingTable(cfg)
			var routes []routing.Route
			for _, rcpt := range args {
				if !strings.Contains(rcpt, "@") {
					return &exitError{code: exitUsage, err: fmt.Errorf("%q is not an address", rcpt)}
				}
				domain := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
				routes = append(routes, tp.Explain(server, rcpt, size, table.Accepted(domain)))
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), routes)
			}
			out := cmd.OutOrStdout()
			for i, r := range routes {
				if i > 0 {
					fmt.Fprintln(out)
				}
				fmt.Fprintf(out, "%s (from %s, %d bytes)\n  destination: %s\n", r.Recipient, server, size, orDash(r.Destination))
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
				for j, h := range r.NextHops {
					label := "next hop:   "
					if j > 0 {
						label = "else:       "
					}
					fmt.Fprintf(out, "  %s %s\n", label, describeHop(h))
				}
				for _, why := range r.Reasons {
					fmt.Fprintf(out, "  - %s\n", why)
				}
			}
			return nil
		},
	}
	explain.Flags().Int64Var(&size, "size", 0, "message size in bytes (size limits on the path)")
	explain.Flags().StringVar(&server, "server", "", "route as this server of the topology (default: server.name)")
	explain.Flags().StringVar(&topoFile, "topology", "", "topology file (default: topology: of the configuration)")
	cmd.AddCommand(explain)
	return cmd
}

func describeHop(h routing.NextHop) string {
	switch h.Kind {
	case routing.HopConnector:
		return "deliver through send connector " + h.Connector
	case routing.HopMailbox:
		return "deliver to mailbox server " + strings.Join(h.Servers, ", ")
	case routing.HopLegacy:
		return "hand to legacy servers " + strings.Join(h.Servers, ", ")
	}
	if len(h.Servers) == 0 {
		return "site " + h.Site + " (no hub there yet)"
	}
	return "relay to site " + h.Site + " via " + strings.Join(h.Servers, ", ")
}
