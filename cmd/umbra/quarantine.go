package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

// newQuarantineCmd is umbra queue quarantine: the messages edge checks
// held back (README: Quarantine).
func newQuarantineCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "quarantine", Short: "List, show, release and delete quarantined messages"}
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List quarantined messages, oldest first, with the reason each is held",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkListLimit(limit); err != nil {
				return err
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			ms, err := c.Quarantine(limit + 1) // one more tells whether the list stops at the limit
			if err != nil {
				return apiErr(err)
			}
			if len(ms) > limit {
				ms = ms[:limit]
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: stopped at the limit of %d messages; more are quarantined (raise --limit)\n", limit)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), ms)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tAGE\tSIZE\tFROM\tRECIPIENTS\tCLIENT\tREASON")
			for _, m := range ms {
				var rcpts []string
				for _, r := range m.Recipients {
					rcpts = append(rcpts, r.Address)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.ID, time.Since(m.Arrived).Round(time.Second), m.Size,
					orDash(m.From), trunc(strings.Join(rcpts, ","), 40), orDash(m.ClientIP), trunc(m.Quarantine, 60))
			}
			return w.Flush()
		},
	}
	intFlag(list.Flags(), &limit, "limit", 1000, "at most this many messages, oldest first (a note on standard error says when more are quarantined)")
	var showAll bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a quarantined message's envelope, reason and subject",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			get := c.Message // the first admin.RecipientsShown, the rest counted
			if showAll {
				get = c.MessageAll
			}
			m, err := get(args[0])
			var ae *admin.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				// No message of that id: said of the quarantine.
				return &exitError{code: exitNotFound, err: shownErr(admin.NoQuarantined(args[0]))}
			}
			if err != nil {
				return apiErr(err)
			}
			if m.Quarantine == "" {
				return &exitError{code: exitNotFound, err: fmt.Errorf("message %s is not quarantined (state %s)", m.ID, m.State)}
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), m)
			}
			var rcpts []string
			for _, r := range m.Recipients {
				rcpts = append(rcpts, r.Address)
			}
			if m.RecipientsMore > 0 {
				rcpts = append(rcpts, fmt.Sprintf("and %d more (%d in all; --all lists every one)", m.RecipientsMore, m.RecipientsMore+len(m.Recipients)))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "id:         %s\nreason:     %s\nfrom:       %s\nrecipients: %s\nsize:       %d\narrived:    %s\nconnector:  %s %s\nsubject:    %s\nmessage-id: %s\n",
				m.ID, termSafe(m.Quarantine), orDash(m.From), termSafe(strings.Join(rcpts, ", ")), m.Size, m.Arrived.Format(time.RFC3339),
				termSafe(m.Connector), termSafe(m.ClientIP), orDash(m.Subject), orDash(m.MessageID))
			return nil
		},
	}
	show.Flags().BoolVar(&showAll, "all", false, "list every recipient, not the first 10 and how many more")
	release := &cobra.Command{
		Use:   "release ID...",
		Short: "Schedule quarantined messages for delivery (tracking notes the quarantine)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return quarantineAction(cmd, args, "release", false)
		},
	}
	var dsn bool
	del := &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete quarantined messages; no DSN unless --dsn (quarantined mail is mostly spam or forged)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return quarantineAction(cmd, args, "delete", dsn)
		},
	}
	del.Flags().BoolVar(&dsn, "dsn", false, "send the sender a failure DSN (not saying why the message was held)")
	cmd.AddCommand(list, show, release, del)
	return cmd
}

// quarantineResult is what release/delete did to each id (--json).
type quarantineResult struct {
	Action string              `json:"action"`
	DSN    bool                `json:"dsn,omitempty"`
	Total  int                 `json:"total"`
	Done   []string            `json:"done"`
	Failed []quarantineFailure `json:"failed"`
	// Already are the ids a release found released before (being
	// delivered or gone): not a failure, and not counted as done.
	Already []string          `json:"already,omitempty"`
	Notes   map[string]string `json:"notes,omitempty"` // what an already released id's answer said
	// NoDSN says, of each id delete --dsn deleted with no DSN sent,
	// why (the null sender: none goes to <>).
	NoDSN map[string]string `json:"no_dsn,omitempty"`
}

type quarantineFailure struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// quarantineAction releases or deletes every id given: a failing id does
// not stop the others; each failure is named, the summary says how many
// were done, and any failure makes the exit non-zero (the failure's own
// code when they all agree, such as 3 for ids that are not quarantined).
func quarantineAction(cmd *cobra.Command, ids []string, action string, dsn bool) error {
	c, err := adminClient(cmd)
	if err != nil {
		return err
	}
	past := map[string]string{"release": "released", "delete": "deleted"}[action]
	res := quarantineResult{Action: action, DSN: dsn, Total: len(ids), Done: []string{}, Failed: []quarantineFailure{}}
	if action == "release" {
		res.Already = []string{}
	}
	if action == "release" {
		defer func() { // released messages are due: now, or at the next start
			if len(res.Done) > 0 {
				stoppingNote(cmd, c)
			}
		}()
	}
	code := 0
	out := cmd.OutOrStdout()
	for _, given := range ids {
		note, noDSN, err := c.QuarantineAction(given, action, dsn)
		// The id as given, by the one rule (shown): a byte that is not
		// UTF-8 reads \xNN, the text \xNN \\xNN, in text and --json.
		id := shown(given)
		err = apiErr(err)
		if err == nil {
			if note != "" {
				// Released before (also by an earlier id of this
				// list): the state asked for holds, but this command
				// released nothing.
				res.Already = append(res.Already, id)
				if res.Notes == nil {
					res.Notes = map[string]string{}
				}
				res.Notes[id] = note // "already released from quarantine: …"
			} else {
				res.Done = append(res.Done, id)
			}
			if noDSN != "" {
				if res.NoDSN == nil {
					res.NoDSN = map[string]string{}
				}
				res.NoDSN[id] = noDSN
			}
			if !wantJSON(cmd) {
				if note == "" {
					note = past
				}
				if noDSN != "" {
					note += ": " + noDSN
				}
				fmt.Fprintf(out, "%s %s\n", id, termSafe(note))
			}
			continue
		}
		var ee *exitError
		ec := exitFailure
		if errors.As(err, &ee) {
			ec, err = ee.code, ee.err
		}
		if ec == exitUnavailable || ec == exitNoPerm {
			// The daemon is gone, or its socket refuses this user: the
			// other ids would fail the same way.
			return &exitError{code: ec, err: fmt.Errorf("%s %s: %w (%d of %d %s before)", action, id, err, len(res.Done), len(ids), past)}
		}
		switch {
		case code == 0:
			code = ec
		case code != ec:
			code = exitFailure
		}
		res.Failed = append(res.Failed, quarantineFailure{ID: id, Error: err.Error()})
		if !wantJSON(cmd) {
			fmt.Fprintf(out, "%s: failed: %s\n", termSafe(id), termSafe(err.Error()))
		}
	}
	if wantJSON(cmd) {
		if err := printJSON(out, res); err != nil {
			return err
		}
	} else {
		if len(res.Already) > 0 {
			fmt.Fprintf(out, "%d of %d %s, %d already released\n", len(res.Done), len(ids), past, len(res.Already))
		} else {
			fmt.Fprintf(out, "%d of %d %s\n", len(res.Done), len(ids), past)
		}
	}
	if len(res.Failed) > 0 {
		var names []string
		for _, f := range res.Failed {
			names = append(names, queue.QuoteShown(f.ID)) // a tab or newline in an id never splits the refusal
		}
		return &exitError{code: code, err: jsonsafe.Textf("%s failed for %d of %s: %s", action, len(res.Failed), plural(len(ids), "message"), strings.Join(names, " "))}
	}
	return nil
}

// registerQuarantine adds the quarantine gauges.
func registerQuarantine(reg prometheus.Registerer, stats func() (int, int64)) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_quarantine_messages",
			Help: "Messages held in the quarantine by edge checks."},
			func() float64 { n, _ := stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_quarantine_bytes",
			Help: "Bytes of the messages held in the quarantine."},
			func() float64 { _, b := stats(); return float64(b) }))
}

// registerQuarantineFull adds the counter of quarantined mail refused
// because the quarantine was at its bound (transport.quarantine.max_size,
// max_messages).
func registerQuarantineFull(reg prometheus.Registerer, refused func() uint64) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "umbra_quarantine_full_refused_total",
		Help: "Messages with a quarantine verdict refused with 452 4.3.1 because the quarantine was full."},
		func() float64 { return float64(refused()) }))
}
