package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/tracking"
)

func newTrackCmd() *cobra.Command {
	var q tracking.Query
	var since, until string
	cmd := &cobra.Command{
		Use:   "track",
		Short: "Search the message tracking log files (by umbra id, Message-ID or organisation message id, sender, recipient, time, event); the daemon need not run",
		Long: `Search the message tracking log. track reads the log files named by the
configuration (tracking.path and its rotated files) itself: it works while
the daemon is stopped, and needs read access to the files (root or the
umbra group). A log file that cannot be read (not a regular file, no
permission) is skipped with a warning naming it on stderr; the events of
the other files are shown and the exit status is 5. So are lines that are
no event (torn by a crash, or foreign): each file's count and first such
line are named on stderr. A raw byte that is not UTF-8 in a line is shown
as the text \xNN, as umbra logs it. At most --limit
(1000) events are shown, the newest; when more match, stderr says so
and from what time the events shown start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			for _, t := range []struct {
				flag, val string
				to        *time.Time
			}{{"--since", since, &q.Since}, {"--until", until, &q.Until}} {
				if t.val == "" {
					continue
				}
				v, err := parseSince(t.val, now)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", t.flag, err)}
				}
				*t.to = v
			}
			// An empty window is a mistake in the command, not a search
			// that found nothing.
			if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
				return &exitError{code: exitUsage, err: fmt.Errorf("--until %s is not after --since %s: no event can match",
					q.Until.Local().Format(time.DateTime), q.Since.Local().Format(time.DateTime))}
			}
			if err := checkLimit(q.Limit); err != nil {
				return err
			}
			for _, ev := range q.Events {
				if !slices.Contains(tracking.Events, ev) {
					return &exitError{code: exitNotFound, err: fmt.Errorf("no event %q; valid: %s", ev, strings.Join(tracking.Events, ", "))}
				}
			}
			if q.ID == "" && q.Sender == "" && q.Recipient == "" && q.Since.IsZero() && len(q.Events) == 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("give --message-id, --sender, --recipient, --since or --event")}
			}
			cfg, err := trackingConfig(cmd)
			if err != nil {
				return err
			}
			if !cfg.Tracking.Enabled {
				return &exitError{code: exitNotFound, err: fmt.Errorf("the message tracking log is disabled (tracking.enabled)")}
			}
			// No log file at all: the wrong configuration (the daemon
			// creates its file at start), not an empty search.
			if _, err := os.Stat(cfg.Tracking.Path); os.IsNotExist(err) {
				if _, err1 := os.Stat(cfg.Tracking.Path + ".1"); os.IsNotExist(err1) {
					used := "the embedded default configuration"
					if cfg.File != "" {
						used = cfg.File
					}
					return &exitError{code: exitNotFound, err: shownErr(fmt.Errorf("no message tracking log at %s (tracking.path of %s); "+
						"name the daemon with --socket or UMBRA_SOCKET, or its configuration with --config or UMBRA_CONFIG", cfg.Tracking.Path, used), cfg.Tracking.Path, used)}
				}
			}
			limit := q.Limit
			if limit <= 0 {
				limit = 1000
			}
			q.Limit = limit + 1 // one more tells whether the answer stops at the limit
			es, err := tracking.Search(cfg.Tracking.Path, cfg.Tracking.MaxFiles, q)
			if len(es) > limit {
				// The newest limit events are shown: say so, and from
				// when, or a table that starts late looks complete.
				es = es[len(es)-limit:]
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: stopped at the limit of %d events: only the newest are shown, from %s; more match (narrow the filter or raise --limit)\n",
					limit, es[0].Time.Local().Format("2006-01-02 15:04:05 MST"))
			}
			var partial *tracking.Partial
			if errors.As(err, &partial) {
				// A file that cannot be read (a FIFO, no permission) is
				// skipped with a warning naming it; the others answer,
				// and the exit status says the answer is partial.
				for _, sk := range partial.Skipped {
					if sk.Dir {
						// Said once, not per rotation name (rt28c F5).
						fmt.Fprintf(cmd.ErrOrStderr(), "umbra: warning: tracking log directory %s: %v: none of its tracking log files could be looked at "+
							"(run track as the user umbra runs as, or as root)\n", shown(sk.Name), errorText(sk.Err))
						continue
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "umbra: warning: tracking log file %s skipped: %s\n", shown(sk.Name), errorText(sk.Err))
				}
				// Lines that are no event (torn, foreign) are named
				// too: count and first line of each file.
				for _, bl := range partial.BadLines {
					fmt.Fprintf(cmd.ErrOrStderr(), "umbra: warning: tracking log file %s\n", bl)
				}
				switch {
				case len(partial.Skipped) == 1 && partial.Skipped[0].Dir:
					err = &exitError{code: exitSkipped, err: shownErr(fmt.Errorf("the tracking log's directory %s cannot be searched (named above): no events could be read",
						partial.Skipped[0].Name), partial.Skipped[0].Name)}
				case len(partial.Skipped) > 0 && partial.Read == 0:
					// No other file to have answered (rt29c F9).
					err = &exitError{code: exitSkipped, err: fmt.Errorf("%d tracking log file(s) skipped (named above) and no other could be read: no events could be read",
						len(partial.Skipped))}
				case len(partial.Skipped) > 0 && partial.Read == partial.InPart:
					// Every file read was read only in part: no other file answered.
					err = &exitError{code: exitSkipped, err: fmt.Errorf("%d tracking log file(s) skipped or read only in part (named above): the events shown are from the part that could be read",
						len(partial.Skipped))}
				case len(partial.Skipped) > 0:
					err = &exitError{code: exitSkipped, err: fmt.Errorf("%d tracking log file(s) skipped or read only in part (named above): the events shown are from the other %d and the part that could be read",
						len(partial.Skipped), partial.Read-partial.InPart)}
				default:
					err = &exitError{code: exitSkipped, err: fmt.Errorf("lines of %d tracking log file(s) skipped (named above): the events shown are from the rest",
						len(partial.BadLines))}
				}
			} else if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			// A period whose events the daemon could not write (a full
			// disk) has a gap line in the log (tracking gap.go): an
			// answer that overlaps it is partial, never "no event".
			if gerr := trackGaps(cmd, es); gerr != nil && err == nil {
				err = gerr
			}
			if wantJSON(cmd) {
				if es == nil {
					es = []tracking.Entry{}
				}
				if perr := printJSON(cmd.OutOrStdout(), es); perr != nil {
					return perr
				}
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TIME\tEVENT\tID\tSENDER\tRECIPIENTS\tNEXT HOP\tREPLY")
			for _, e := range es {
				reply := e.Reply
				if e.Event == "admin" {
					// The target: the message is in the ID column; a
					// queue action names its queue.
					action := e.Action
					if e.Queue != "" && strings.HasPrefix(action, "queue ") {
						// "queue redirect to H" → "queue redirect Q to H"
						verb, rest, _ := strings.Cut(strings.TrimPrefix(action, "queue "), " ")
						action = strings.TrimSpace("queue " + verb + " " + e.Queue + " " + rest)
					}
					reply = action + " by " + e.Actor + ": " + e.Reply
				}
				// The time with its zone: the log is in UTC, the table
				// in the local zone, and a reader must know which.
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05 MST"), e.Event, orDash(e.ID),
					orDash(e.Sender), trunc(strings.Join(e.Recipients, ","), 40), orDash(e.NextHop), truncDash(reply, 100))
			}
			if ferr := w.Flush(); ferr != nil {
				return ferr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&q.ID, "message-id", "", "umbra id, Message-ID header or organisation message id (X-Umbra-Org-Id)")
	cmd.Flags().StringVar(&q.Sender, "sender", "", "sender contains")
	cmd.Flags().StringVar(&q.Recipient, "recipient", "", "a recipient contains")
	cmd.Flags().StringVar(&since, "since", "", "events from this time on: RFC 3339 or a duration ago (90m, 2h, 1d)")
	cmd.Flags().StringVar(&until, "until", "", "events before this time: RFC 3339 or a duration ago")
	cmd.Flags().StringSliceVar(&q.Events, "event", nil, "only these events (receive, send, deliver, defer, fail, dsn, remove, admin, takeover, …; repeatable or comma-separated)")
	intFlag(cmd.Flags(), &q.Limit, "limit", 1000, "the newest this many events (stderr says when more match)")
	return cmd
}

// trackGaps says on stderr each gap among es — events the daemon lost,
// from when to when and how many (ops48 F5) — and returns the exit of a
// partial answer (5) when there is one; nil when there is none. The gap
// lines stay in the answer: the table's "lost" rows, and in --json
// entries with event "lost", lost_from and lost.
func trackGaps(cmd *cobra.Command, es []tracking.Entry) error {
	n, lost := 0, 0
	for _, e := range es {
		if e.Event != tracking.GapEvent || e.LostFrom == nil {
			continue
		}
		n++
		lost += e.Lost
		fmt.Fprintf(cmd.ErrOrStderr(), "umbra: warning: %d tracking events from %s to %s were not written (the tracking log's writes failed, umbra_tracking_log_events_lost_total): "+
			"events of that period may be missing from this answer\n", e.Lost,
			e.LostFrom.Local().Format("2006-01-02 15:04:05 MST"), e.Time.Local().Format("2006-01-02 15:04:05 MST"))
	}
	if n == 0 {
		return nil
	}
	return &exitError{code: exitSkipped, err: fmt.Errorf("%d tracking events of the period searched were not written (%d gap(s), named above): the events shown are those recorded", lost, n)}
}
