package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "umbra",
		Short:         "umbra is an SMTP mail transfer agent with shadow redundancy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "", "configuration file (default: the embedded default)")
	root.PersistentFlags().String("socket", "", "admin socket of the running daemon (default: server.admin_socket of the configuration)")
	root.PersistentFlags().Bool("json", false, "print JSON instead of tables")
	root.AddCommand(newServeCmd(), newConfigCmd(), newVersionCmd(), newQueueCmd(), newMessageCmd(), newTrackCmd(), newRouteCmd(), newShadowCmd(), newDumpsterCmd())
	return root
}
