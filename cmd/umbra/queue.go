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
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

func newQueueCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "queue", Short: "List and steer the delivery queues of the running daemon"}
	var filters []string
	var suspendedOnly bool
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
			if suspendedOnly {
				qs = slices.DeleteFunc(qs, func(q queue.QueueInfo) bool { return !q.Suspended })
			}
			if wantJSON(cmd) {
				noteClaimsFailing(cmd, c) // on stderr: the output stays the list
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
			for _, q := range qs {
				if q.WaitingOn != nil {
					// An attempt under way that waits on a host: which,
					// in which step, since when (queue.Stall).
					n := "1 message"
					if q.WaitingOnHost != 1 {
						n = fmt.Sprintf("%d messages", q.WaitingOnHost)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s in an attempt waiting on a host; the longest: %s\n", termSafe(q.Name), n, termSafe(q.WaitingOn.Text(time.Now())))
				}
			}
			for _, q := range qs {
				if q.Status == "suspended" && !q.Suspended && q.ByState["suspended"] > 0 {
					// Shown suspended, not suspended as a queue (rt36
					// F2): queue resume and retry release none of them.
					fmt.Fprintf(cmd.OutOrStdout(), "%s: suspended message by message, not as a queue: %s\n", termSafe(q.Name), queue.HeldEachRestoredText(termSafe(q.Name), q.ByState["suspended"], q.RestoredSuspended))
				} else if q.Suspended && q.RestoredSuspended > 0 {
					// Suspended as a queue, and some of its messages by a
					// restore as well (ops49 F2): counted apart, as --json
					// does, with the order of the two resumes.
					fmt.Fprintf(cmd.OutOrStdout(), "%s: suspended as a queue, and %d of its messages restored suspended by db restore as well (they may have been delivered already): umbra queue resume %s, then umbra message resume --queue %s releases them\n",
						termSafe(q.Name), q.RestoredSuspended, termSafe(q.Name), termSafe(q.Name))
				}
			}
			ds, err := c.Destinations()
			if err != nil {
				return apiErr(err)
			}
			if suspendedOnly || len(filters) > 0 {
				// Only the destinations of the queues selected: none
				// of another queue's (rt30c F6).
				listed := map[string]bool{}
				for _, q := range qs {
					listed[q.Name] = true
				}
				ds = slices.DeleteFunc(ds, func(d queue.DestinationInfo) bool { return !listed[d.Queue] })
			}
			if len(ds) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				if err := printDestinations(cmd, ds); err != nil {
					return err
				}
			}
			printBackPressure(cmd, c)
			noteClaimsFailing(cmd, c)
			if stopping {
				fmt.Fprintln(cmd.ErrOrStderr(), "umbra: note: umbra is stopping: no delivery attempt starts before it is started again; a queue's due messages go then")
			}
			return nil
		},
	}
	list.Flags().StringArrayVar(&filters, "filter", nil, "status=S, type=T, or text the queue name contains (repeatable: all must match)")
	list.Flags().BoolVar(&suspendedOnly, "suspended", false, "only the queues an operator suspended (queue suspend), which umbra_queues_suspended counts; "+
		"not those shown suspended because each of their messages was (message suspend)")
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
		{"suspend", "Stop delivering the recipients waiting in QUEUE (survives restarts; one already suspended is refused, exit 1)"},
		{"resume", "Lift a suspension; says where its messages go: now, or when a dead destination's cool-down ends (a resume ends none); one not suspended is refused, exit 1"},
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
				// A retry ends its destinations' cool-downs for one probe
				// each (rt36 F2): read before, to say so.
				var probed []queue.DestinationInfo
				if a.use == "retry" {
					probed = deadOfQueue(c, args[0])
				}
				sum, err := c.QueueActionTotals(args[0], a.use, "", queueProgress(cmd, a.use, done))
				n := sum.Rescheduled
				if err != nil {
					return queueActionErr(err, n, done)
				}
				var rp releasePlan
				if a.use == "resume" && n > 0 && !c.Stopping() {
					rp = releasedPlan(c, args[0], sum.Released)
				}
				if wantJSON(cmd) {
					v := dueJSON(c, a.use != "suspend", map[string]any{"queue": args[0], "action": a.use, "rescheduled": n})
					if len(rp.dead) > 0 {
						v["due_at"], v["dead_destinations"] = rp.dead[len(rp.dead)-1].d.DeadUntil, deadJSON(rp.dead)
					}
					if len(rp.held) > 0 {
						v["held_in_suspended_queues"] = heldJSON(rp.held)
					}
					if rp.known && (len(rp.dead) > 0 || len(rp.held) > 0) {
						v["due_now"] = rp.now
					}
					if a.use == "resume" && len(sum.Released) > 0 {
						v["released_to"] = sum.Released // as the admin API answers it (rt28c F6)
					}
					if n > 0 && !c.Stopping() && len(probed) > 0 {
						v["probed_dead_destinations"] = probedJSON(probed)
					}
					if sum.HeldEach > 0 {
						v["held_each"] = sum.HeldEach // held one by one: message resume --queue releases them
						if sum.HeldRestored > 0 {
							v["held_restored"] = sum.HeldRestored // of them, held by a db restore
						}
					}
					if sum.ShadowHeld > 0 {
						v["shadow_held"] = sum.ShadowHeld // copies held for their primary, left alone
					}
					return printJSON(cmd.OutOrStdout(), v)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s", args[0], a.use)
				switch {
				case len(rp.dead) > 0 || len(rp.held) > 0:
					fmt.Fprintf(cmd.OutOrStdout(), " (%s)", rp.text(n, args[0]))
				case a.use == "resume" && rp.known && !c.Stopping():
					// All due now: still where they go, as the scheduler
					// routes them now (rt28c F6).
					fmt.Fprintf(cmd.OutOrStdout(), " (%s, %s)", dueText(c, n), releasedToText(sum.Released))
				case a.use == "retry" && n > 0 && !c.Stopping() && len(probed) > 0:
					fmt.Fprintf(cmd.OutOrStdout(), " (%s)", probeText(n, probed))
				case a.use != "suspend":
					fmt.Fprintf(cmd.OutOrStdout(), " (%s)", dueText(c, n))
				}
				fmt.Fprintln(cmd.OutOrStdout())
				if sum.HeldEach > 0 {
					// Not released by the queue's action (rt36 F2): the
					// queue still shows suspended while they are held.
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], heldEachText(args[0], sum.HeldEach, sum.HeldRestored))
				}
				if sum.ShadowHeld > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], queue.ShadowHeldText(sum.ShadowHeld, a.use))
				}
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
				again = &exitError{code: exitBusy, err: fmt.Errorf("%s of %s %s in delivery and stay%s in it; "+
					"run umbra queue redirect %s --to %s again once their attempt ends (those it defers are moved then)",
					plural(busy, "message"), args[0], map[bool]string{true: "was", false: "were"}[busy == 1], map[bool]string{true: "s", false: ""}[busy == 1], args[0], to)}
			}
			if wantJSON(cmd) {
				v := map[string]any{"queue": args[0], "action": "redirect", "to": to, "messages": n,
					"kept_requiretls": kept, "kept_in_delivery": busy}
				if sum.ShadowHeld > 0 {
					v["shadow_held"] = sum.ShadowHeld // copies held for their primary, left alone
				}
				if err := printJSON(cmd.OutOrStdout(), dueJSON(c, true, v)); err != nil {
					return err
				}
				return again
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s redirected to %s\n", args[0], plural(n, "message"), to)
			if kept > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s kept in %s: no DANE or MTA-STS policy of their domains verifies %s, "+
					"where they would fail at once (550 5.7.10); they are attempted on their own route\n", args[0], plural(kept, "REQUIRETLS message"), args[0], to)
			}
			if busy > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s in delivery stay%s in %s\n", args[0], plural(busy, "message"), map[bool]string{true: "s", false: ""}[busy == 1], args[0])
			}
			if sum.ShadowHeld > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], queue.ShadowHeldText(sum.ShadowHeld, "redirect"))
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
			probed := deadOfQueue(c, "") // a flush ends every cool-down for one probe (probeText)
			n, err := c.QueueActionProgress("", "flush", "", queueProgress(cmd, "flush", "due now"))
			if err != nil {
				return queueActionErr(err, n, "due now")
			}
			if n == 0 || c.Stopping() {
				probed = nil
			}
			if wantJSON(cmd) {
				v := dueJSON(c, true, map[string]any{"action": "flush", "rescheduled": n})
				if len(probed) > 0 {
					v["probed_dead_destinations"] = probedJSON(probed)
				}
				return printJSON(cmd.OutOrStdout(), v)
			}
			if len(probed) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "flush: %s\n", probeText(n, probed))
				return nil
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
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: so far %s %s\n", action, plural(sum, "message"), done)
	}
}

// queueActionErr is a queue action's error; when batches finished before
// it (n messages changed), it says so: those are done, and a new run
// takes the rest.
func queueActionErr(err error, n int, done string) error {
	if n > 0 {
		err = fmt.Errorf("%w\nbefore that: %s %s; run the command again for the rest", err, plural(n, "message"), done)
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
		return fmt.Sprintf("%s rescheduled by this command; they and every message already due are due at the next start: "+
			"umbra is stopping, and no delivery attempt starts before it is started again", plural(n, "message"))
	}
	return plural(n, "message") + " due now"
}

// deadOfQueue is the destinations of queue name ("": of every queue)
// that are dead now, as the daemon's scheduler has them (none when it
// cannot say).
func deadOfQueue(c *admin.Client, name string) []queue.DestinationInfo {
	ds, err := c.Destinations()
	if err != nil {
		return nil
	}
	var out []queue.DestinationInfo
	for _, d := range ds {
		if (name == "" || d.Queue == name) && d.State == "dead" {
			out = append(out, d)
		}
	}
	return out
}

// probeText is what a queue retry of n messages says when its
// destinations were dead (deadOfQueue, before the retry): the retry ends
// their cool-downs, but each gets one probe (window 1) — the other
// messages are answered by a new dead mark, without a connection, if
// the probe fails (rt36 F2). "N messages due now" alone said they all
// went.
func probeText(n int, dead []queue.DestinationInfo) string {
	var ds []string
	for _, d := range dead {
		ds = append(ds, fmt.Sprintf("%s was dead until %s after %s in a row", termSafe(d.Name),
			d.DeadUntil.Local().Format(time.TimeOnly), plural(d.Failures, "failure")))
	}
	return fmt.Sprintf("%s due now; %s: its cool-down ended for one probe, one message first — "+
		"the others for it follow if it succeeds, and wait for the next cool-down's end if it fails (umbra queue destinations)",
		plural(n, "message"), strings.Join(ds, "; "))
}

// probedJSON is probeText's destinations for --json.
func probedJSON(dead []queue.DestinationInfo) []map[string]any {
	var out []map[string]any
	for _, d := range dead {
		out = append(out, map[string]any{"destination": d.Name, "dead_until": d.DeadUntil, "failures_in_a_row": d.Failures})
	}
	return out
}

// releasePlan is where the messages a queue resume released go, as
// the daemon's scheduler routes them now (admin.QueueResult.Released,
// ops27 1): the dead destinations among them (each with how many of the
// messages, latest end last), the suspended queues that hold some
// still, and how many go now. known: the daemon said where they go (an
// older daemon does not: the resumed queue's own destinations are
// looked at, as before).
type releasePlan struct {
	dead  []deadGroup
	held  []heldGroup
	now   int
	nowTo map[string]int // the destinations of those due now, messages each
	known bool
}

type deadGroup struct {
	d queue.DestinationInfo
	n int // messages with a recipient there; -1: not known
}

type heldGroup struct {
	queue string
	n     int
}

// releasedPlan sorts released (destination -> messages) by the state
// of each destination now: dead (no connection until its cool-down
// ends: a resume ends none), held in a suspended queue, or due now. A
// destination the scheduler does not list, or one not dead, is due now.
// Without released (an older daemon), the dead destinations of queue
// name (coolingDown).
func releasedPlan(c *admin.Client, name string, released map[string]int) releasePlan {
	if released == nil {
		var rp releasePlan
		for _, d := range coolingDown(c, name) {
			rp.dead = append(rp.dead, deadGroup{d, -1})
		}
		return rp
	}
	rp := releasePlan{known: true, nowTo: map[string]int{}}
	ds, _ := c.Destinations()
	byName := map[string]queue.DestinationInfo{}
	for _, d := range ds {
		byName[d.Name] = d
	}
	var suspended map[string]bool
	for key, n := range released {
		if q, ok := strings.CutPrefix(key, "queue:"); ok {
			if suspended == nil {
				suspended = map[string]bool{}
				if qs, err := c.Queues(); err == nil {
					for _, qi := range qs {
						suspended[qi.Name] = qi.Status == "suspended"
					}
				}
			}
			if q != "" && suspended[q] {
				rp.held = append(rp.held, heldGroup{q, n})
				continue
			}
			rp.now += n
			rp.nowTo[key] += n
			continue
		}
		if d, ok := byName[key]; ok && d.State == "dead" && time.Until(d.DeadUntil) > 0 {
			rp.dead = append(rp.dead, deadGroup{d, n})
			continue
		}
		rp.now += n
		rp.nowTo[key] += n
	}
	slices.SortFunc(rp.dead, func(a, b deadGroup) int { return a.d.DeadUntil.Compare(b.d.DeadUntil) })
	slices.SortFunc(rp.held, func(a, b heldGroup) int { return strings.Compare(a.queue, b.queue) })
	return rp
}

// releasedToText names where the messages a resume released go, per
// scheduler destination (admin.QueueResult.Released): "to
// connector:relay", or "to connector:a (2), mx:b.test (1)" for several
// (a message with recipients on two counts in each).
func releasedToText(released map[string]int) string {
	keys := make([]string, 0, len(released))
	for k := range released {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 1 {
		return "to " + keys[0]
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s (%d)", k, released[k])
	}
	return "to " + strings.Join(parts, ", ")
}

// text says when the n messages a resume of queue name released go:
// those of a dead destination when its cool-down ends (with the time),
// those held in another suspended queue when that is resumed, the rest
// now. A message with recipients in two of them counts in each.
func (rp releasePlan) text(n int, name string) string {
	at := func(d queue.DestinationInfo) string {
		return fmt.Sprintf("%s, in %s,", d.DeadUntil.Local().Format(time.TimeOnly), nextRetryText(time.Until(d.DeadUntil), false))
	}
	var parts []string
	for _, g := range rp.dead {
		count := ""
		if g.n >= 0 {
			count = fmt.Sprintf("%d ", g.n)
		}
		parts = append(parts, fmt.Sprintf("%sdue at %s when the cool-down of their dead destination %s ends", count, at(g.d), g.d.Name))
	}
	for _, g := range rp.held {
		parts = append(parts, fmt.Sprintf("%d held: their route's queue %s is suspended (umbra queue resume %s releases them)", g.n, g.queue, g.queue))
	}
	if rp.now > 0 {
		parts = append(parts, fmt.Sprintf("%d due now, %s", rp.now, releasedToText(rp.nowTo)))
	}
	out := fmt.Sprintf("%s released: %s", plural(n, "message"), strings.Join(parts, "; "))
	if len(rp.dead) > 0 {
		// A retry of the queue a dead destination's mail waits in ends
		// its cool-down: the released messages are shown there from
		// their first attempt (no connection) on.
		retry := name
		if q := rp.dead[0].d.Queue; q != "" {
			retry = q
		}
		out += fmt.Sprintf(" — a resume ends no cool-down; umbra queue retry %s attempts them now", retry)
	}
	return out
}

// coolingDown is the destinations of queue name in a cool-down (dead:
// no connection until it ends), latest end last, when every
// destination the scheduler knows of the queue is — nil when one is
// not, or none is known. Used only when the daemon does not say where
// released mail goes (releasedPlan): the released mail may go by
// another destination than the queue's name says (a reload changed its
// route).
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

// deadJSON is the dead destinations of a releasePlan for --json, each
// with how many of the released messages wait for it (when known).
func deadJSON(dead []deadGroup) []map[string]any {
	out := make([]map[string]any, 0, len(dead))
	for _, g := range dead {
		v := map[string]any{"name": g.d.Name, "dead_until": g.d.DeadUntil}
		if g.n >= 0 {
			v["messages"] = g.n
		}
		out = append(out, v)
	}
	return out
}

// heldJSON is the suspended queues of a releasePlan for --json.
func heldJSON(held []heldGroup) []map[string]any {
	out := make([]map[string]any, 0, len(held))
	for _, g := range held {
		out = append(out, map[string]any{"queue": g.queue, "messages": g.n})
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
			return nil, &exitError{code: exitUsage, err: jsonsafe.Textf("unknown filter %s (status=, type= or text)", queue.QuoteShown(f))}
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
// one until when, a failing one how many failures in a row and, while
// none of its attempts runs, when its mail is tried next, or that no
// mail of it is left (never "idle" for either). While attempts run (mail a crowded active set had turned
// away, started when slots freed) no "next try in" a time to come is
// shown: a try is under way (rt27f F2).
func destStateText(d queue.DestinationInfo, now time.Time) string {
	switch {
	case d.State == "failing" && d.NoMailLeft:
		// Its mail all moved away (redirected, removed): no try is due.
		return fmt.Sprintf("failing (%d in a row; no mail left)", d.Failures)
	case d.State == "failing":
		s := fmt.Sprintf("failing (%d in a row", d.Failures)
		if until := d.NextTry.Sub(now); !d.NextTry.IsZero() && until >= time.Second/2 && d.Running == 0 {
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

// heldEachText says that n messages of queue name are held one by one,
// restored of them by a db restore (restored suspended), not by the
// operator: the console's words too (queue.HeldEachRestoredText).
func heldEachText(name string, n, restored int) string {
	return queue.HeldEachRestoredText(termSafe(name), n, restored)
}

// noteClaimsFailing says, under a listing, that the daemon's claims of
// due messages fail and why (admin.ClaimsFailingHeader): mail shown
// ready and due now is not delivered meanwhile (rt45 F1).
func noteClaimsFailing(cmd *cobra.Command, c *admin.Client) {
	if text := c.ClaimsFailing(); text != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "umbra: note: "+termSafe(text))
	}
}
