package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/dumpster"
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
			if err := checkListLimit(limit); err != nil {
				return err
			}
			// --since and --limit filter one database's copies: without
			// --database they would be ignored without a word.
			for _, name := range []string{"since", "limit"} {
				if db == "" && cmd.Flags().Changed(name) {
					return &exitError{code: exitUsage, err: fmt.Errorf("--%s lists one database's copies: give --database DB", name)}
				}
			}
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
					return &exitError{code: exitUsage, err: fmt.Errorf("--since: %w", err)}
				}
			}
			// One more tells whether the list stops at the limit: said on
			// stderr, in text and --json alike, as message list does
			// (rt36 F3: 1,000 of 3,019 copies listed without a word).
			es, err := c.DumpsterList(db, since, limit+1)
			if err != nil {
				return apiErr(err)
			}
			if len(es) > limit {
				es = es[:limit]
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: stopped at the limit of %s; more are kept (narrow --since or raise --limit)\n", nouns(limit, "copy", "copies"))
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), es)
			}
			fmt.Fprintln(w, "KEPT\tAGE\tQUEUE ID\tSIZE\tFROM\tRECIPIENTS\tMESSAGE-ID")
			for _, e := range es {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.KeptAt.Local().Format(time.DateTime), age(e.KeptAt), e.QueueID,
					size(e.Size), orDash(e.From), trunc(strings.Join(e.Recipients, ","), 60), truncDash(e.MessageID, 50))
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&db, "database", "", "list this mailbox database's copies")
	list.Flags().StringVar(&sinceArg, "since", "", "with --database: copies kept since TIME (RFC 3339, or a duration ago such as 2h)")
	intFlag(list.Flags(), &limit, "limit", 1000, "with --database: at most this many copies")

	var rdb, rsince, reqID string
	resubmit := &cobra.Command{
		Use:   "resubmit --database DB --since TIME [--request-id ID]",
		Short: "Redeliver every copy kept for a database since a time (after a mailbox failover)",
		Long: "Redeliver every copy kept for mailbox database DB since TIME: the database lost what it got since\n" +
			"then. Its duplicate records of that window are forgotten first, so each message is delivered once\n" +
			"more. TIME is RFC 3339 (2026-11-22T10:00:00Z) or a duration (90m, 2h, 1d) before the request's start.\n" +
			"\n" +
			"A request id makes a retry safe (after a timeout, a lost connection, a stopped daemon): the same\n" +
			"--request-id with the same --database and --since is the same request, never carried out twice.\n" +
			"Done before, it answers the first run's figures (\"already carried out\"); interrupted, it is finished\n" +
			"(\"interrupted before, finished now\"). A duration is measured from the request's first start, so\n" +
			"\"--since 1h\" names the same window at every retry. The same id with another database or window is\n" +
			"refused (exit 1) naming both. Without --request-id a new id is made and printed on stderr first:\n" +
			"retry with it.\n" +
			"\n" +
			"Exit codes: 0 every copy of the window was resubmitted (or there were none); 5 the request is done\n" +
			"but some copies were NOT resubmitted because they are unreadable (a missing or cut spool file, a\n" +
			"record that does not decode): the count is printed, and each copy's message id is in the daemon's log, \"dumpster copy not\n" +
			"resubmitted\" with the request_id; a retry answers 5 again. 75 the request is stored and begun but\n" +
			"not finished: the transport database could not be written (a full disk); the daemon finishes it at\n" +
			"its next start, or repeat the command with the same --request-id (a new id resubmits the window's\n" +
			"copies again). 1 refused or failed (a request that could not be stored: nothing was done), 3 no\n" +
			"dumpster or an unknown database (neither configured nor holding copies; the valid names are listed),\n" +
			"64 usage, 69 daemon not running.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rdb == "" || rsince == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--database and --since are required")}
			}
			since, ago, byAgo, err := parseWindow(rsince, time.Now())
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--since: %w", err)}
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			made := reqID == ""
			if made {
				// A misspelt database gets one answer, the names that
				// are valid (exit 3), before the advice on retrying a
				// request that would then never be stored (rt45 F7).
				if _, err := c.DumpsterList(rdb, time.Time{}, 1); err != nil {
					return apiErr(err)
				}
				var b [8]byte
				rand.Read(b[:])
				reqID = "cli-" + hex.EncodeToString(b[:])
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: request id %s: to retry this request, give --request-id %s --database %s --since %s\n",
					reqID, reqID, rdb, rsince)
			}
			var out admin.Redelivery
			if byAgo {
				out, err = c.RedeliverAgo(reqID, rdb, ago)
			} else {
				out, err = c.Redeliver(reqID, rdb, since)
			}
			var ae *admin.APIError
			if made && errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
				// Refused before it was stored (a database that is not
				// there, a bad window): the advice printed first does
				// not apply.
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: request id %s was refused and not stored: there is nothing to retry\n", reqID)
			}
			if errors.As(err, &ae) && ae.Status == http.StatusConflict {
				// Not "busy, try again": no retry of this id will do.
				return &exitError{code: exitFailure, err: err}
			}
			if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
				// Stored and begun (the message names the request and
				// what to do): not a failure to forget about.
				return &exitError{code: exitUnfinished, err: err}
			}
			if err != nil {
				return apiErr(err)
			}
			if out.Resubmitted > 0 {
				defer stoppingNote(cmd, c) // they go at the next start when umbra is stopping
			}
			if wantJSON(cmd) {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				verb := "resubmitted"
				switch {
				case out.Repeated:
					verb = "already carried out; it had resubmitted"
				case out.Resumed:
					verb = "interrupted before, finished now; it resubmitted"
				}
				// The stored instant exactly (with its fraction): a retry
				// naming it with --since is the same request.
				fmt.Fprintf(cmd.OutOrStdout(), "request %s for database %s since %s: %s %s, %s cleared\n",
					out.RequestID, out.Database, out.Since.Local().Format(time.RFC3339Nano), verb, plural(out.Resubmitted, "message"), plural(out.Cleared, "duplicate record"))
			}
			if out.Skipped > 0 {
				return &exitError{code: exitSkipped, err: fmt.Errorf("%s NOT resubmitted: %s unreadable (a missing or cut spool file, a record that does not decode); "+
					"each copy's message id is in the daemon's log: \"dumpster copy not resubmitted\" with request_id=%s",
					nouns(out.Skipped, "copy", "copies"), map[bool]string{true: "it is", false: "they are"}[out.Skipped == 1], out.RequestID)}
			}
			return nil
		},
	}
	resubmit.Flags().StringVar(&rdb, "database", "", "the mailbox database that failed over")
	resubmit.Flags().StringVar(&rsince, "since", "", "resubmit copies kept since TIME (RFC 3339, or a duration before the request's start)")
	resubmit.Flags().StringVar(&reqID, "request-id", "", "an id that makes a retried request safe (default: a new random id, printed on stderr)")
	cmd.AddCommand(list, resubmit, newDumpsterRemoveCmd())
	return cmd
}

// newDumpsterRemoveCmd is "umbra dumpster remove": copies removed for
// good, by id or by filter.
func newDumpsterRemoveCmd() *cobra.Command {
	var db, since, until, from, to, mid, org string
	var yes, dry bool
	cmd := &cobra.Command{
		Use:   "remove [ID...] [--database DB] [FILTER] [--yes] [--dry-run]",
		Short: "Remove copies from the dumpster for good (a misdirected or confidential message)",
		Long: "Remove dumpster copies for good: they are never redelivered. Name them by queue id (as\n" +
			"\"dumpster list --database DB\" shows; every database's copies of that message unless --database is\n" +
			"given), or by --database DB with a filter: --since/--until TIME (kept at or after / before; RFC 3339\n" +
			"or a duration ago), --from and --to (substrings of the sender and a recipient), --message-id and\n" +
			"--org-id (exact). With ids, a filter narrows them. Removing by filter alone is a bulk removal and\n" +
			"needs --yes; --dry-run lists what would go and removes nothing. Every removed copy is audited: a log\n" +
			"line and an \"admin\" line in the tracking log (action \"dumpster remove\", envelope and ids, never the\n" +
			"content; umbra track --event admin).\n" +
			"\n" +
			"Exit codes: 0 removed (or listed); 3 an id had no copy the selection took (the others were removed) or no such\n" +
			"database; 64 usage (no ids and no --database, or a filter without --yes or --dry-run); 69 daemon\n" +
			"not running.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && db == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("name the copies: queue ids, or --database DB with a filter")}
			}
			if len(args) == 0 && !yes && !dry {
				return &exitError{code: exitUsage, err: fmt.Errorf("removing by filter removes every copy it selects, for good: " +
					"add --yes (--dry-run lists them)")}
			}
			q := url.Values{}
			for k, v := range map[string]string{"database": db, "from": from, "to": to, "message_id": mid, "org_id": org} {
				if v != "" {
					q.Set(k, v)
				}
			}
			now := time.Now()
			window := map[string]time.Time{}
			for k, v := range map[string]string{"since": since, "until": until} {
				if v == "" {
					continue
				}
				t, err := parseSince(v, now)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--%s: %w", k, err)}
				}
				window[k] = t
				q.Set(k, t.UTC().Format(time.RFC3339Nano))
			}
			// An empty window is a mistake in the command, not a
			// removal that found nothing (as track's).
			if s, ok := window["since"]; ok {
				if u, ok := window["until"]; ok && !u.After(s) {
					return &exitError{code: exitUsage, err: fmt.Errorf("--until %s is not after --since %s: no copy can match",
						u.Local().Format(time.RFC3339), s.Local().Format(time.RFC3339))}
				}
			}
			if yes {
				q.Set("confirm", "true")
			}
			if dry {
				q.Set("dry_run", "true")
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			out, err := c.DumpsterRemove(args, q)
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "DATABASE\tKEPT\tQUEUE ID\tSIZE\tFROM\tRECIPIENTS\tMESSAGE-ID")
				for _, e := range out.Removed {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Database, e.KeptAt.Local().Format(time.DateTime), e.QueueID,
						size(e.Size), orDash(e.From), trunc(strings.Join(e.Recipients, ","), 60), truncDash(e.MessageID, 50))
				}
				w.Flush()
				if out.DryRun {
					fmt.Fprintf(cmd.OutOrStdout(), "%s would be removed (dry run: nothing removed)\n", nouns(len(out.Removed), "copy", "copies"))
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s removed\n", nouns(len(out.Removed), "copy", "copies"))
				}
			}
			// A filter given with the ids narrows them: an id it left
			// no copy of may have copies outside it, which are kept.
			var narrowed []string
			for _, n := range []string{"database", "since", "until", "from", "to", "message-id", "org-id"} {
				if cmd.Flags().Changed(n) {
					narrowed = append(narrowed, "--"+n)
				}
			}
			if len(out.NotFound) > 0 && len(narrowed) > 0 {
				return &exitError{code: exitNotFound, err: fmt.Errorf("no dumpster copy of %s is selected by %s: none of it was "+
					"removed, and a copy of it the selection leaves out, if any, is kept (umbra dumpster list shows them)",
					strings.Join(out.NotFound, ", "), strings.Join(narrowed, " "))}
			}
			if len(out.NotFound) > 0 {
				return &exitError{code: exitNotFound, err: fmt.Errorf("no dumpster copy of %s (a copy a redelivery request took "+
					"is in the queue under a new id: `umbra track --event resubmit` names it, `umbra message remove` removes it)",
					strings.Join(out.NotFound, ", "))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "database", "", "the mailbox database whose copies to remove")
	f.StringVar(&since, "since", "", "copies kept at or after TIME (RFC 3339, or a duration ago)")
	f.StringVar(&until, "until", "", "copies kept before TIME (RFC 3339, or a duration ago)")
	f.StringVar(&from, "from", "", "copies whose sender contains S")
	f.StringVar(&to, "to", "", "copies with a recipient containing S")
	f.StringVar(&mid, "message-id", "", "copies with this Message-ID (exact, with its <>)")
	f.StringVar(&org, "org-id", "", "copies with this organisation message id")
	f.BoolVar(&yes, "yes", false, "confirm a removal by filter (every copy it selects)")
	f.BoolVar(&dry, "dry-run", false, "list the copies that would be removed; remove nothing")
	return cmd
}

// parseWindow reads --since of resubmit: an RFC 3339 time, or a
// duration ("90m", "2h", "1d") to be measured back from the request's
// start by the daemon.
//
// A window that cannot hold a copy (a time not before now, a duration
// of 0) is refused: stored as a request, it would resubmit nothing and
// answer success.
func parseWindow(s string, now time.Time) (since time.Time, ago time.Duration, byAgo bool, err error) {
	if t, err := dumpster.ParseTime(s); err == nil {
		if !t.Before(now) {
			return time.Time{}, 0, false, fmt.Errorf("%q is not before now (%s): no copy is kept since then", s, now.UTC().Format(time.RFC3339))
		}
		return t, 0, false, nil
	}
	t, err := parseSince(s, now)
	if err != nil {
		return time.Time{}, 0, false, err
	}
	if !t.Before(now) {
		return time.Time{}, 0, false, fmt.Errorf("%q is no time before the request: give how far back copies are resubmitted (90m, 2h, 1d)", s)
	}
	return time.Time{}, now.Sub(t), true, nil
}

// parseSince reads an RFC 3339 time or a duration before now ("90m",
// "2h", "1d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := dumpster.ParseTime(s); err == nil {
		return t, nil
	}
	// One rule with the admin API's since_ago (dumpster.ParseAgo).
	if d, err := dumpster.ParseAgo(s); err == nil {
		// Longer than any duration (292 years) is the longest one
		// (ParseAgo): a time 292 years back, before every copy and
		// every event, never a product wrapped into the future. Never
		// the zero time either: callers read that as a flag not given
		// (track --since 107000d asked for --since; --until 1000000d
		// was no bound at all).
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
