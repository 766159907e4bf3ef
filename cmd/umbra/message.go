package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/queue"
)

func newMessageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "message", Short: "Inspect and steer single messages of the running daemon"}
	var f queue.MessageFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List messages (filters: --queue, --from, --to, --state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			ms, err := c.Messages(f)
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), ms)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSTATE\tAGE\tSIZE\tFROM\tRECIPIENTS\tQUEUES\tLAST ERROR")
			for _, m := range ms {
				var rcpts []string
				for _, r := range m.Recipients {
					rcpts = append(rcpts, r.Address)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.ID, m.State, time.Since(m.Arrived).Round(time.Second),
					m.Size, orDash(m.From), trunc(strings.Join(rcpts, ","), 40), strings.Join(m.Queues, ","),
					trunc(orDash(m.LastError), 50))
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&f.Queue, "queue", "", "only messages in this queue")
	list.Flags().StringVar(&f.From, "from", "", "sender contains")
	list.Flags().StringVar(&f.To, "to", "", "a recipient contains")
	list.Flags().StringVar(&f.State, "state", "", "ready, active, suspended or poison")
	list.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many messages")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a message's envelope and every recipient's state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			m, err := c.Message(args[0])
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), m)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "id:         %s\nstate:      %s\nfrom:       %s\nsize:       %d\narrived:    %s\nconnector:  %s %s\nattempts:   %d\n",
				m.ID, m.State, orDash(m.From), m.Size, m.Arrived.Format(time.RFC3339), m.Connector, m.ClientIP, m.Attempts)
			if !m.NextAttempt.IsZero() {
				fmt.Fprintf(out, "next:       %s\n", m.NextAttempt.Format(time.RFC3339))
			}
			fmt.Fprintf(out, "message-id: %s\norg id:     %s\n", orDash(m.MessageID), orDash(m.OrgID))
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "\nRECIPIENT\tSTATUS\tQUEUE\tNEXT HOP\tLAST REPLY")
			for _, r := range m.Recipients {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Address, r.Status, orDash(r.Queue), orDash(r.NextHop), orDash(r.LastReply))
			}
			return w.Flush()
		},
	}
	export := &cobra.Command{
		Use:   "export ID",
		Short: "Write the message as received (RFC 5322, .eml) to standard output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			return apiErr(c.Export(args[0], cmd.OutOrStdout()))
		},
	}
	cmd.AddCommand(list, show, export)
	for _, a := range []struct{ use, short string }{
		{"suspend", "Hold a message until it is resumed"},
		{"resume", "Release a suspended or poison message for delivery now"},
		{"remove", "Delete a message (with --ndr the sender gets a failure DSN)"},
	} {
		var ndr bool
		c := &cobra.Command{
			Use:   a.use + " ID",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := adminClient(cmd)
				if err != nil {
					return err
				}
				if err := c.MessageAction(args[0], a.use, ndr); err != nil {
					return apiErr(err)
				}
				if wantJSON(cmd) {
					return printJSON(cmd.OutOrStdout(), map[string]any{"id": args[0], "action": a.use, "ndr": ndr})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], a.use)
				return nil
			},
		}
		if a.use == "remove" {
			c.Flags().BoolVar(&ndr, "ndr", false, "send the sender a non-delivery report")
		}
		cmd.AddCommand(c)
	}
	return cmd
}
