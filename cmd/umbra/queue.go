package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

func newQueueCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "queue", Short: "List and steer the delivery queues of the running daemon"}
	var filters []string
	list := &cobra.Command{
		Use:   "list",
		Short: "List queues: delivery type, status, message count, last error, next retry, rates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := filterQueues(nil, filters); err != nil { // a typo fails before, and whatever, the server holds
				if errors.As(err, new(*queue.UnknownNameError)) {
					return &exitError{code: exitNotFound, err: err}
				}
				return err
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			all, err := c.Queues()
			if err != nil {
				return apiErr(err)
			}
			qs, err := filterQueues(all, filters)
			var ue *queue.UnknownNameError
			if errors.As(err, &ue) {
				return &exitError{code: exitNotFound, err: err}
			} else if err != nil {
				return err
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), qs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "QUEUE\tTYPE\tSTATUS\tMESSAGES\tOLDEST\tIN/MIN\tOUT/MIN\tNEXT RETRY\tLAST ERROR")
			stopping := c.Stopping()
			for _, q := range qs {
				next := "-"
				if !q.NextRetry.IsZero() {
					next = nextRetryText(time.Until(q.NextRetry), stopping)
				}
				oldest := "-"
				if q.Count > 0 {
					oldest = q.OldestAge.Round(time.Second).String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\n", termSafe(q.Name), q.DeliveryType, q.Status, q.Count, oldest,
					q.IncomingRate, q.OutgoingRate, next, truncDash(queue.LastErrorShown(q.LastError), 60))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			ds, err := c.Destinations()
			if err != nil {
				return apiErr(err)
			}
			if len(ds) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				if err := printDestinations(cmd, ds); err != nil {
					return err
				}
			}
			printBackPressure(cmd, c)
			if stopping {
				fmt.Fprintln(cmd.ErrOrStderr(), "umbra: note: umbra is stopping: no delivery attempt starts before it is started again; a queue's due messages go then")
			}
			return nil
		},
	}
	list.Flags().StringArrayVar(&filters, "filter", nil, "status=S, type=T, or text the queue name contains (repeatable: all must match)")
	cmd.AddCommand(list)
	cmd.AddCommand(backPressureCmd())
	cmd.AddCommand(&cobra.Command{
		Use:   "destinations",
		Short: "List the scheduler's destinations: concurrency window, running and waiting attempts, dead or unresponsive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			ds, err := c.Destinations()
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), ds)
			}
			return printDestinations(cmd, ds)
		},
	})
	for _, a := range []struct{ use, short string }{
		{"suspend", "Stop delivering the recipients waiting in QUEUE (survives restarts)"},
		{"resume", "Lift a suspension; the queue's messages are attempted at once"},
		{"retry", "Attempt every waiting message of QUEUE now"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   a.use + " QUEUE",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := adminClient(cmd)
				if err != nil {
					return err
				}
				defer stopBatchesOnInterrupt(cmd, c, a.use)()
				// A resume ends no cool-down: what it releases is due now
				// only where its destination is not dead (coolingDown).
				done := "due now"
				if a.use == "resume" {
					done = "released"
				}
				n, err := c.QueueActionProgress(args[0], a.use, "", queueProgress(cmd, a.use, done))
				if err != nil {
					return queueActionErr(err, n, done)
				}
				var dead []queue.DestinationInfo
				if a.use == "resume" && n > 0 {
					dead = coolingDown(c, args[0])
				}
				if wantJSON(cmd) {
					v := dueJSON(c, a.use != "suspend", map[string]any{"queue": args[0], "action": a.use, "rescheduled": n})
					if len(dead) > 0 && !c.Stopping() {
						v["due_at"], v["dead_destinations"] = dead[len(dead)-1].DeadUntil, deadJSON(dead)
					}
					return printJSON(cmd.OutOrStdout(), v)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s", args[0], a.use)
				switch {
				case len(dead) > 0 && !c.Stopping():
					fmt.Fprintf(cmd.OutOrStdout(), " (%s)", coolDownText(dead, n, args[0]))
				case a.use != "suspend":
					fmt.Fprintf(cmd.OutOrStdout(), " (%s)", dueText(c, n))
				}
				fmt.Fprintln(cmd.OutOrStdout())
				return nil
			},
		})
	}
	var to string
	redirect := &cobra.Command{
		Use:   "redirect QUEUE --to HOST[:PORT]",
		Short: "Send every recipient waiting in QUEUE to another server (mail arriving later is routed normally)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("redirect needs --to HOST[:PORT]")}
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			defer stopBatchesOnInterrupt(cmd, c, "redirect")()
			sum, err := c.QueueActionTotals(args[0], "redirect", to, queueProgress(cmd, "redirect", "redirected"))
			n := sum.Rescheduled
			if err != nil {
				return queueActionErr(err, n, "redirected")
			}
			// REQUIRETLS messages stay on their route (queue
			// redirectBatch): each batch counts those it kept.
			kept := sum.KeptRequireTLS
			// Messages in delivery stay where they are (their attempt
			// writes their results): said, counted, and exit 4 (in
			// delivery, try again), so that the redirect is run again
			// once their attempt ends (rt21c L4).
			busy := sum.KeptInDelivery
			var again error
			if busy > 0 {
				again = &exitError{code: exitBusy, err: fmt.Errorf("%d messages of %s were in delivery and stay in it; "+
					"run umbra queue redirect %s --to %s again once their attempt ends (those it defers are moved then)", busy, args[0], args[0], to)}
			}
			if wantJSON(cmd) {
				if err := printJSON(cmd.OutOrStdout(), dueJSON(c, true, map[string]any{"queue": args[0], "action": "redirect", "to": to, "messages": n,
					"kept_requiretls": kept, "kept_in_delivery": busy})); err != nil {
					return err
				}
				return again
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d messages redirected to %s\n", args[0], n, to)
			if kept > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d REQUIRETLS messages kept in %s: no DANE or MTA-STS policy of their domains verifies %s, "+
					"where they would fail at once (550 5.7.10); they are attempted on their own route\n", args[0], kept, args[0], to)
			}
			if busy > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d messages in delivery stay in %s\n", args[0], busy, args[0])
			}
			stoppingNote(cmd, c)
			return again
		},
	}
	redirect.Flags().StringVar(&to, "to", "", "the server to send the queue's messages to")
	needsValue(redirect, "to", "HOST[:PORT]")
	cmd.AddCommand(redirect)
	cmd.AddCommand(&cobra.Command{
		Use:   "flush",
		Short: "Attempt every waiting message of every queue now, except suspended queues",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			defer stopBatchesOnInterrupt(cmd, c, "flush")()
			n, err := c.QueueActionProgress("", "flush", "", queueProgress(cmd, "flush", "due now"))
			if err != nil {
				return queueActionErr(err, n, "due now")
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), dueJSON(c, true, map[string]any{"action": "flush", "rescheduled": n}))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "flush: %s\n", dueText(c, n))
			return nil
		},
	})
	cmd.AddCommand(newQuarantineCmd()) // quarantine.go
	return cmd
}

// queueProgress writes, after each batch of a queue action but the last,
// what is done so far to standard error (admin.Client.QueueActionProgress).
func queueProgress(cmd *cobra.Command, action, done string) func(int) {
	return func(sum int) {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: so far %d messages %s\n", action, sum, done)
	}
}

// queueActionErr is a queue action's error; when batches finished before
// it (n messages changed), it says so: those are done, and a new run
// takes the rest.
func queueActionErr(err error, n int, done string) error {
	if n > 0 {
		err = fmt.Errorf("%w\nbefore that: %d messages %s; run the command again for the rest", err, n, done)
	}
	return apiErr(err)
}

// dueText says when the n messages an action made due go: now, or at
// the daemon's next start when its stop (the drain after SIGTERM) began
// — no delivery attempt starts before then (admin.StoppingHeader).
func dueText(c *admin.Client, n int) string {
	if c.Stopping() {
		// n is what this command moved, not every message due then: a
		// second flush moves none, and "0 messages due at the next
		// start" read as though none were.
		return fmt.Sprintf("%d messages rescheduled by this command; they and every message already due are due at the next start: "+
			"umbra is stopping, and no delivery attempt starts before it is started again", n)
	}
	return fmt.Sprintf("%d messages due now", n)
}

// coolingDown is the destinations of queue name in a cool-down (dead:
// no connection until it ends), latest end last, when every
// destination the scheduler knows of the queue is — nil when one is
// not, or none is known (its messages are due now). A queue resume ends
// no cool-down (only retry and flush do): what it releases goes when
// the cool-down of its destination ends (rt18c-F4: "due now" was
// printed while every message's next attempt was that end).
func coolingDown(c *admin.Client, name string) []queue.DestinationInfo {
	ds, err := c.Destinations()
	if err != nil {
		return nil
	}
	var dead []queue.DestinationInfo
	for _, d := range ds {
		if d.Queue != name {
			continue
		}
		if d.State != "dead" || d.DeadUntil.IsZero() {
			return nil
		}
		dead = append(dead, d)
	}
	slices.SortFunc(dead, func(a, b queue.DestinationInfo) int { return a.DeadUntil.Compare(b.DeadUntil) })
	return dead
}

// coolDownText says when the n messages a resume of queue name released
// go: when the cool-down of its dead destination ends (each message at
// its destination's), with the time.
func coolDownText(dead []queue.DestinationInfo, n int, name string) string {
	at := func(d queue.DestinationInfo) string {
		return fmt.Sprintf("%s, in %s,", d.DeadUntil.Local().Format(time.TimeOnly), nextRetryText(time.Until(d.DeadUntil), false))
	}
	when := fmt.Sprintf("at %s when the cool-down of its dead destination %s ends", at(dead[0]), dead[0].Name)
	if len(dead) > 1 {
		var each []string
		for _, d := range dead {
			each = append(each, d.Name+" at "+at(d))
		}
		when = "when the cool-downs of its dead destinations end: " + strings.Join(each, "; ") + ";"
	}
	return fmt.Sprintf("%d messages released, due %s — a resume ends no cool-down; umbra queue retry %s attempts them now", n, when, name)
}

// deadJSON is the dead destinations of coolingDown for --json.
func deadJSON(dead []queue.DestinationInfo) []map[string]any {
	out := make([]map[string]any, 0, len(dead))
	for _, d := range dead {
		out = append(out, map[string]any{"name": d.Name, "dead_until": d.DeadUntil})
	}
	return out
}

// nextRetryText is a queue's next retry, until from now: a due time
// that passed is "now" (an attempt about to start), or "next start"
// while the daemon stops (no attempt starts before it is started
// again) — never a negative duration.
func nextRetryText(until time.Duration, stopping bool) string {
	switch {
	case until >= time.Second/2:
		return until.Round(time.Second).String()
	case stopping:
		return "next start"
	}
	return "now"
}

// dueJSON is v with "at_next_start": true when the action made messages
// due (due) and the daemon's stop began: they go at its next start.
func dueJSON(c *admin.Client, due bool, v map[string]any) map[string]any {
	if due && c.Stopping() {
		v["at_next_start"] = true
	}
	return v
}

// stoppingNote says, on stderr, that what a command made due goes at
// the daemon's next start, when its stop began.
func stoppingNote(cmd *cobra.Command, c *admin.Client) {
	if c.Stopping() {
		fmt.Fprintln(cmd.ErrOrStderr(), "umbra: note: umbra is stopping: no delivery attempt starts before it is started again; what this command made due goes then")
	}
}

// filterQueues keeps the queues matching every filter: status=S, type=T,
// or a substring of the name.
// The filters are checked before any queue is looked at: a typo fails
// the same way on a server with no queues as on a busy one.
func filterQueues(qs []queue.QueueInfo, filters []string) ([]queue.QueueInfo, error) {
	for _, f := range filters {
		k, v, isKV := strings.Cut(f, "=")
		switch {
		case isKV && (k == "status" || k == "type") && v == "":
			// As any flag given with no value (emptyflags.go).
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("--filter %s= given with no value: give one, or leave the filter out", k)}
		case isKV && k == "status" && !slices.Contains(queue.QueueStatuses, v):
			return nil, &queue.UnknownNameError{Kind: "status", Name: v, Valid: queue.QueueStatuses}
		case isKV && k == "type" && !slices.Contains(queue.DeliveryTypes, v):
			return nil, &queue.UnknownNameError{Kind: "type", Name: v, Valid: queue.DeliveryTypes}
		case isKV && k != "status" && k != "type":
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("unknown filter %s (status=, type= or text)", queue.QuoteShown(f))}
		}
	}
	var out []queue.QueueInfo
	for _, q := range qs {
		ok := true
		for _, f := range filters {
			k, v, isKV := strings.Cut(f, "=")
			switch {
			case isKV && k == "status":
				ok = ok && q.Status == v
			case isKV && k == "type":
				ok = ok && q.DeliveryType == v
			default:
				ok = ok && strings.Contains(q.Name, f)
			}
		}
		if ok {
			out = append(out, q)
		}
	}
	return out, nil
}

// printDestinations is the scheduler's table: one line per destination
// (next hop) with its window, and one per unanswering server.
func printDestinations(cmd *cobra.Command, ds []queue.DestinationInfo) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DESTINATION\tQUEUE\tSTATE\tWINDOW\tRUNNING\tWAITING\tFAILURES\tLAST ERROR")
	for _, d := range ds {
		window := "-"
		if d.Max > 0 {
			window = fmt.Sprintf("%d/%d", d.Window, d.Max)
		}
		state := destStateText(d, time.Now())
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", termSafe(d.Name), orDash(d.Queue), termSafe(state), window, d.Running, d.Waiting,
			d.Failures, truncDash(d.LastError, 60))
	}
	return w.Flush()
}

// destStateText is a destination's state as the table shows it: a dead
// one until when, a failing one how many failures in a row and when its
// mail is tried next (never "idle" for either).
func destStateText(d queue.DestinationInfo, now time.Time) string {
	switch {
	case d.State == "failing":
		s := fmt.Sprintf("failing (%d in a row", d.Failures)
		if until := d.NextTry.Sub(now); !d.NextTry.IsZero() && until >= time.Second/2 {
			s += ", next try in " + until.Round(time.Second).String()
		}
		return s + ")"
	case !d.DeadUntil.IsZero():
		return d.State + " until " + d.DeadUntil.Format(time.TimeOnly)
	}
	return d.State
}

// checkLimit refuses a --limit that is not a positive count (exit 64):
// 0 and -1 listed everything, which is not what they say.
func checkLimit(limit int) error {
	if limit <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--limit %d: give a positive count", limit)}
	}
	return nil
}

// checkListLimit is checkLimit for a listing the daemon answers
// (message list, queue quarantine list, dumpster list): at most
// admin.MaxListLimit, the most one listing returns (rt20d-F2).
func checkListLimit(limit int) error {
	if err := checkLimit(limit); err != nil {
		return err
	}
	if limit > admin.MaxListLimit {
		return &exitError{code: exitUsage, err: fmt.Errorf("--limit %d is above the most one listing returns, %d: narrow the filter", limit, admin.MaxListLimit)}
	}
	return nil
}
