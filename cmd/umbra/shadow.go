package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newShadowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "shadow", Short: "Shadow redundancy: the copies this server keeps for its primaries"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the primaries this server holds shadow copies for, with copies, oldest, last contact, failed heartbeats and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			vs, err := c.Shadows()
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), vs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PRIMARY\tCOPIES\tOLDEST\tLAST CONTACT\tFAILED HEARTBEATS\tSTATE\tDATABASE ID")
			for _, v := range vs {
				last := "-"
				if !v.LastContact.IsZero() {
					last = time.Since(v.LastContact).Round(time.Second).String() + " ago"
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%s\t%s\n", v.Primary, v.Copies, v.OldestAge.Round(time.Second), last,
					v.FailedHeartbeats, shadowState(v.TakenOver, v.FailedHeartbeats), orDash(v.DatabaseID))
			}
			return w.Flush()
		},
	})
	return cmd
}

// shadowState is the STATE column of shadow list: taken-over (the copies
// are this server's again, routed or waiting for a route; the primary is
// still heartbeated), failing (heartbeats fail, no takeover yet) or
// healthy.
func shadowState(takenOver bool, failures int) string {
	switch {
	case takenOver:
		return "taken-over"
	case failures > 0:
		return "failing"
	}
	return "healthy"
}
