package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "umbra",
		Short:         "umbra is an SMTP mail transfer agent with shadow redundancy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "", "configuration file (default: $UMBRA_CONFIG, else the embedded default; the management commands also look for /etc/umbra/hub.yaml and edge.yaml)")
	root.PersistentFlags().String("socket", "", "admin socket of the running daemon (default: $UMBRA_SOCKET, else server.admin_socket of --config, else /run/umbra/admin.sock when it exists)")
	root.PersistentFlags().Bool("json", false, "print JSON instead of tables")
	root.AddCommand(newServeCmd(), newConfigCmd(), newVersionCmd(), newQueueCmd(), newMessageCmd(), newTrackCmd(), newRouteCmd(), newShadowCmd(), newDumpsterCmd(), newDBCmd())
	return root
}
