package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newDumpsterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dumpster", Short: "The transport dumpster: copies of delivered messages per mailbox database"}
	var db, sinceArg string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List each database's dumpster (messages, size, oldest), or with --database its copies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			if db == "" {
				ss, err := c.DumpsterSummaries()
				if err != nil {
					return apiErr(err)
				}
				if wantJSON(cmd) {
					return printJSON(cmd.OutOrStdout(), ss)
				}
				fmt.Fprintln(w, "DATABASE\tMESSAGES\tSIZE\tOLDEST")
				for _, s := range ss {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", s.Database, s.Messages, size(s.Bytes), age(s.Oldest))
				}
				return w.Flush()
			}
			var since time.Time
			if sinceArg != "" {
				if since, err = parseSince(sinceArg, time.Now()); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--since: %v", err)}
				}
			}
			es, err := c.DumpsterList(db, since, limit)
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), es)
			}
			fmt.Fprintln(w, "KEPT\tAGE\tQUEUE ID\tSIZE\tFROM\tRECIPIENTS\tMESSAGE-ID")
			for _, e := range es {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.KeptAt.Local().Format(time.DateTime), age(e.KeptAt), e.QueueID,
					size(e.Size), orDash(e.From), trunc(strings.Join(e.Recipients, ","), 60), orDash(trunc(e.MessageID, 50)))
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&db, "database", "", "list this mailbox database's copies")
	list.Flags().StringVar(&sinceArg, "since", "", "with --database: copies kept since TIME (RFC 3339, or a duration ago such as 2h)")
	list.Flags().IntVar(&limit, "limit", 1000, "with --database: at most this many copies")

	var rdb, rsince, reqID string
	resubmit := &cobra.Command{
		Use:   "resubmit --database DB --since TIME",
		Short: "Redeliver every copy kept for a database since a time (after a mailbox failover)",
		Long: "Redeliver every copy kept for mailbox database DB since TIME: the database lost what it got since\n" +
			"then. Its duplicate records of that window are forgotten first, so each message is delivered once\n" +
			"more. TIME is RFC 3339 (2026-11-22T10:00:00Z) or a duration ago (90m, 2h, 1d). Give --request-id\n" +
			"to make a retry safe: a request id that was carried out before is not carried out again. A retry\n" +
			"must name the same window, so give --since as an RFC 3339 time then (a duration moves with the clock).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rdb == "" || rsince == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--database and --since are required")}
			}
			since, err := parseSince(rsince, time.Now())
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--since: %v", err)}
			}
			if reqID == "" {
				var b [8]byte
				rand.Read(b[:])
				reqID = "cli-" + hex.EncodeToString(b[:])
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			out, err := c.Redeliver(reqID, rdb, since)
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), out)
			}
			verb := "resubmitted"
			if out.Repeated {
				verb = "already carried out; it had resubmitted"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "request %s for database %s since %s: %s %d messages, %d duplicate records cleared\n",
				out.RequestID, out.Database, out.Since.Local().Format(time.RFC3339), verb, out.Resubmitted, out.Cleared)
			if out.Skipped > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d copies NOT resubmitted: their content is unreadable (a missing or cut spool file); "+
					"each is in the daemon's log (\"dumpster copy not resubmitted\") with its message id\n", out.Skipped)
			}
			return nil
		},
	}
	resubmit.Flags().StringVar(&rdb, "database", "", "the mailbox database that failed over")
	resubmit.Flags().StringVar(&rsince, "since", "", "resubmit copies kept since TIME (RFC 3339, or a duration ago)")
	resubmit.Flags().StringVar(&reqID, "request-id", "", "an id that makes a retried request safe (default: a new random id)")
	cmd.AddCommand(list, resubmit)
	return cmd
}

// parseSince reads an RFC 3339 time or a duration before now ("90m",
// "2h", "1d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days >= 0 && fmt.Sprint(days) == n {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: give an RFC 3339 time (2026-11-22T10:00:00Z) or a duration ago (90m, 2h, 1d)", s)
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}
