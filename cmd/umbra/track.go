package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/tracking"
)

func newTrackCmd() *cobra.Command {
	var q tracking.Query
	cmd := &cobra.Command{
		Use:   "track",
		Short: "Search the message tracking log (by umbra id, Message-ID or organisation message id, sender, recipient)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.ID == "" && q.Sender == "" && q.Recipient == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("give --message-id, --sender or --recipient")}
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			es, err := c.Track(q)
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), es)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TIME\tEVENT\tID\tSENDER\tRECIPIENTS\tNEXT HOP\tREPLY")
			for _, e := range es {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.Event, e.ID,
					orDash(e.Sender), trunc(strings.Join(e.Recipients, ","), 40), orDash(e.NextHop), trunc(orDash(e.Reply), 60))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&q.ID, "message-id", "", "umbra id, Message-ID header or organisation message id (X-Umbra-Org-Id)")
	cmd.Flags().StringVar(&q.Sender, "sender", "", "sender contains")
	cmd.Flags().StringVar(&q.Recipient, "recipient", "", "a recipient contains")
	cmd.Flags().IntVar(&q.Limit, "limit", 1000, "the newest this many events")
	return cmd
}
