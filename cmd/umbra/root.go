package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "umbra",
		Short:         "umbra is an SMTP mail transfer agent with shadow redundancy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newConfigCmd(), newVersionCmd())
	return root
}
