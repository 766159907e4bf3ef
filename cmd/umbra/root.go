package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "umbra",
		Short:         "umbra is an SMTP mail transfer agent with shadow redundancy",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command: a flag given with no value is refused.
		PersistentPreRunE: refuseEmptyValues,
	}
	root.PersistentFlags().StringP("config", "c", "", "configuration file (default: $UMBRA_CONFIG, else the embedded default; the management commands also look for /etc/umbra/hub.yaml and edge.yaml, track asks the daemon named by --socket which file it runs, route explain for the configuration it runs as it loaded it)")
	root.PersistentFlags().String("socket", "", "admin socket of the running daemon (default: $UMBRA_SOCKET, else server.admin_socket of --config, else /run/umbra/admin.sock when it exists, else that of the installed configuration whose daemon runs)")
	root.PersistentFlags().Bool("json", false, "print JSON instead of tables")
	root.AddCommand(newServeCmd(), newConfigCmd(), newVersionCmd(), newQueueCmd(), newMessageCmd(), newTrackCmd(), newRouteCmd(), newShadowCmd(), newDumpsterCmd(), newDBCmd(), newDKIMCmd(), newTLSCmd())
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group (queue, message, …)
// answer an unknown subcommand with a usage error (exit 64) and the
// nearest names, as the root does; a group without arguments prints its
// help. Without it cobra prints the help and exits 0, so a typo in a
// script passes unnoticed.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if !cmd.HasParent() || !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		msg += " (commands: " + strings.Join(names, ", ") + ")"
		return &exitError{code: exitUsage, err: errors.New(msg)}
	}
}
