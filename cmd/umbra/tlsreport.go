package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/tlspolicy"
)

// newTLSCmd is "umbra tls": outbound TLS reporting (RFC 8460).
func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "Outbound TLS: the daily TLS reports (RFC 8460)"}
	var date string
	var send bool
	report := &cobra.Command{
		Use:   "report",
		Short: "Show a day's TLS reports as they would be sent (counts so far, rua, the JSON); --send queues a finished day's now",
		Long: `Shows, for the UTC day given by --date (default today), each policy domain's
TLS report as the daemon would send it: the counts so far, where it goes (the
mailto: rua of the domain's _smtp._tls record) and the report JSON (with --json).
With --send, the reports of that day are queued now instead of at the next hourly
run; the day must be over (a report covers a whole UTC day), and a report sent
now is not sent again by the daily run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if date != "" {
				if _, err := time.Parse(time.DateOnly, date); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--date %q: want YYYY-MM-DD", date)}
				}
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if send {
				var r struct {
					Date   string `json:"date"`
					Queued int    `json:"queued"`
				}
				if err := c.SendTLSReport(date, &r); err != nil {
					return apiErr(err)
				}
				if wantJSON(cmd) {
					return printJSON(out, r)
				}
				fmt.Fprintf(out, "%s: %d TLS report(s) queued\n", r.Date, r.Queued)
				return nil
			}
			var ps []tlspolicy.PendingReport
			if err := c.TLSReport(date, &ps); err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(out, ps)
			}
			if len(ps) == 0 {
				// The day named: --date's, else today's (UTC), as the
				// daemon takes it.
				day := date
				if day == "" {
					day = "today, " + time.Now().UTC().Format(time.DateOnly) + " (UTC)"
				}
				fmt.Fprintf(out, "no TLS report pending for %s\n", day)
				return nil
			}
			for _, p := range ps {
				to := "no _smtp._tls record: no report"
				switch {
				case p.RuaError != "":
					to = "rua unknown (" + p.RuaError + "): tried again later"
				case len(p.Rua) > 0:
					to = "to " + strings.Join(p.Rua, ", ")
				}
				fmt.Fprintf(out, "%s %s — %s\n", p.Day, p.Domain, to)
				for _, pol := range p.Report.Policies {
					fmt.Fprintf(out, "  %s: %d successful, %d failed sessions\n", pol.Policy.PolicyType, pol.Summary.Success, pol.Summary.Failure)
					for _, f := range pol.FailureDetails {
						fmt.Fprintf(out, "    %s %s: %d\n", f.ResultType, f.ReceivingMX, f.FailedSession)
					}
				}
			}
			return nil
		},
	}
	report.Flags().StringVar(&date, "date", "", "the UTC day, YYYY-MM-DD (default today)")
	report.Flags().BoolVar(&send, "send", false, "queue the day's reports now (the day must be over)")
	cmd.AddCommand(report)
	return cmd
}
