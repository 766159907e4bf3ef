package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

func newMessageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "message", Short: "Inspect and steer single messages of the running daemon"}
	var f queue.MessageFilter
	var olderThan string
	list := &cobra.Command{
		Use:   "list",
		Short: "List messages (filters: --queue, --from, --to, --state, --domain, --older-than)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkListLimit(f.Limit); err != nil {
				return err
			}
			if err := queue.CheckState(f.State); err != nil {
				return &exitError{code: exitNotFound, err: err}
			}
			if err := queue.CheckDomain(f.Domain); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--domain: %w", err)}
			}
			if olderThan != "" {
				now := time.Now()
				t, err := parseSince(olderThan, now)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--older-than: %w", err)}
				}
				if f.OlderThan = now.Sub(t); f.OlderThan <= 0 {
					f.OlderThan = time.Nanosecond
				}
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			limit := f.Limit
			if limit <= 0 {
				limit = 1000
			}

			q := f
			q.Limit = limit + 1 // one more tells whether the list stops at the limit
			ms, err := c.Messages(q)
			if err != nil {
				return apiErr(err)
			}
			if len(ms) > limit {
				ms = ms[:limit]
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: stopped at the limit of %d messages; more match (narrow the filter or raise --limit)\n", limit)
			}
			if db, ok := strings.CutPrefix(f.Queue, "dumpster:"); ok {
				// A queue the daemon took (a configured database's,
				// empty or not): its copies are no queued messages.
				fmt.Fprintf(cmd.ErrOrStderr(), "umbra: %s keeps copies of delivered mail, not queued messages: umbra dumpster list --database %s lists them\n",
					termSafe(f.Queue), termSafe(db))
			}
			noteClaimsFailing(cmd, c) // on stderr: --json's output stays the list
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), ms)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSTATE\tAGE\tSIZE\tFROM\tRECIPIENTS\tQUEUES\tLAST ERROR")
			for _, m := range ms {
				// The recipients still open here, as mailq lists them:
				// not one delivered, relayed, failed or finished by its
				// primary (message show --all and --json give them all).
				var rcpts []string
				for _, r := range m.Recipients {
					if queue.RecipientOpen(r.Status) {
						rcpts = append(rcpts, r.Address)
					}
				}
				// A held message waits for its queue's resume: that is
				// what holds it now, not its last error (message show
				// gives both).
				// (admin view: the LastError of a held message is its hold,
				// in --json and message show alike).
				why := queue.LastErrorShown(m.LastError) // behind a dead destination, or held: the real reply first
				if m.State == "held" {
					why = m.Held
					// The next hop's reply before the hold first, so a
					// cut column keeps the cause (dsnlast47), the hold
					// after it.
					if last, ok := strings.CutPrefix(m.LastError, m.Held+"; last reply: "); ok && last != "" {
						why = last + " (" + m.Held + ")"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.ID, m.State, time.Since(m.Arrived).Round(time.Second),
					m.Size, orDash(m.From), truncDash(strings.Join(rcpts, ","), 40), termSafe(strings.Join(m.Queues, ",")),
					truncDash(why, 50))
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&f.Queue, "queue", "", "only messages in this queue")
	list.Flags().StringVar(&f.From, "from", "", "sender contains")
	list.Flags().StringVar(&f.To, "to", "", "a recipient contains")
	list.Flags().StringVar(&f.State, "state", "", "state: "+strings.Join(queue.MessageStates, ", "))
	list.Flags().StringVar(&f.Domain, "domain", "", "a recipient's domain is")
	list.Flags().StringVar(&olderThan, "older-than", "", "arrived at least this long ago (90m, 2h, 1d) or before an RFC 3339 time")
	intFlag(list.Flags(), &f.Limit, "limit", 1000, "at most this many messages")

	var showAll bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a message's envelope and its recipients' states (the first 10 and how many more; --all: every one)",
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
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), m)
			}
			out := cmd.OutOrStdout()
			attempts := strconv.Itoa(m.Attempts)
			if m.ResultsPending != "" {
				attempts += " (the last one's results are not committed yet: see results)"
			}
			fmt.Fprintf(out, "id:         %s\nstate:      %s\nfrom:       %s\nsize:       %d\narrived:    %s\nconnector:  %s %s\nattempts:   %s\n",
				m.ID, m.State, orDash(m.From), m.Size, m.Arrived.Format(time.RFC3339), termSafe(m.Connector), termSafe(m.ClientIP), attempts)
			if !m.NextAttempt.IsZero() {
				fmt.Fprintf(out, "next:       %s\n", m.NextAttempt.Format(time.RFC3339))
			}
			if m.LastError != "" && m.Damaged == "" {
				// Once (rt17d F5): the one message list shows
				// (queue.CurrentError) — why a poison message is held (a
				// body unreadable, its checksum failing or missing), else
				// the last failure that still applies.
				fmt.Fprintf(out, "last error: %s\n", termSafe(m.LastError))
			}
			for _, w := range waitsOf(m) {
				// Its attempt now: the host a session of it waits on, in
				// which step, since when (queue.Stall) — the last error
				// is an earlier attempt's.
				fmt.Fprintf(out, "waiting on: %s\n", termSafe(w.Text(time.Now())))
			}
			if m.Held != "" && !strings.HasPrefix(m.LastError, m.Held) { // a held message's last error is its hold (then its last reply), said once
				fmt.Fprintf(out, "held:       %s\n", termSafe(m.Held))
			}
			if m.Damaged != "" {
				fmt.Fprintf(out, "damaged:    %s\n", termSafe(m.Damaged))
			}
			if m.CopyOf != "" {
				fmt.Fprintf(out, "copy of:    a message of %s (a shadow copy kept here)\n", termSafe(m.CopyOf))
			}
			if m.ResultsPending != "" {
				fmt.Fprintf(out, "results:    %s\n", termSafe(m.ResultsPending))
			}
			if m.SingleCopy != "" {
				fmt.Fprintf(out, "copies:     %s\n", termSafe(m.SingleCopy))
			}
			if m.ShadowCopy != "" || len(m.Unconfirmed) > 0 {
				fmt.Fprintf(out, "copy:       %s\n", copyLine(m.ShadowCopy, m.Unconfirmed))
			}
			if m.HolderUnreached != "" {
				fmt.Fprintf(out, "holder:     %s\n", termSafe(m.HolderUnreached)) // rt30a F2
			}
			fmt.Fprintf(out, "subject:    %s\nmessage-id: %s\norg id:     %s\n", orDash(m.Subject), orDash(m.MessageID), orDash(m.OrgID))
			printSpool(out, m.Spool) // messageexport.go
			return printRecipients(out, m)
		},
	}
	show.Flags().BoolVar(&showAll, "all", false, "list every recipient, not the first 10 and how many more")
	var exportOut string
	export := &cobra.Command{
		Use:   "export ID",
		Short: "Write the message as received (RFC 5322, .eml) to standard output (--json: with its envelope)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var place func(dir *os.File) error
			if exportOut != "" {
				// Never into the pickup directory (submitted again), the
				// spool or a Maildir tree: refused before the daemon is
				// asked, and judged again on the directory the export
				// holds (place).
				var err error
				if place, err = checkWritePlaceHeld(cmd, "message export -o", exportOut); err != nil {
					return err
				}
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			if !wantJSON(cmd) {
				if err := exportEML(c, args[0], exportOut, rawOut(cmd), place); err != nil || exportOut == "" {
					return err // messageexport.go: whole or nothing, byte for byte
				}
				// A success line, as db backup's (rt33c F7): the file
				// given and its size.
				var n int64
				if fi, err := os.Lstat(exportOut); err == nil {
					n = fi.Size()
				}
				fmt.Fprintf(cmd.OutOrStdout(), "export %s %s: %s\n", termSafe(args[0]), shown(exportOut), size(n))
				return nil
			}
			if exportOut != "" {
				// --json with -o writes the file as without --json
				// (refused alike: an existing file, a missing
				// directory) and prints the verdict of that, not the
				// message: no flag is silently ignored.
				if err := exportEML(c, args[0], exportOut, rawOut(cmd), place); err != nil {
					return err
				}
				var n int64
				if fi, err := os.Lstat(exportOut); err == nil {
					n = fi.Size()
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": args[0], "file": shown(exportOut), "bytes": n})
			}
			m, err := c.MessageAll(args[0]) // the envelope whole, as the export is
			if err != nil {
				return apiErr(err)
			}
			var eml bytes.Buffer
			if err := c.Export(args[0], &eml); err != nil {
				return apiErr(err)
			}
			return printJSON(cmd.OutOrStdout(), struct {
				admin.MessageView
				EML string `json:"eml"`
			}{m, eml.String()})
		},
	}
	export.Flags().StringVarP(&exportOut, "output", "o", "", "write to this new file (made whole under a temporary name, then linked in; an existing file is never replaced) instead of standard output")
	cmd.AddCommand(list, show, export)
	for _, a := range []struct{ use, short string }{
		{"suspend", "Hold messages until they are resumed (postsuper -h)"},
		{"resume", "Release suspended or poison messages for delivery now (postsuper -H)"},
		{"remove", "Delete messages (postsuper -d; with --ndr the sender gets a failure DSN)"},
		{"retry", "Attempt waiting messages now; not counted as a scheduled attempt"},
	} {
		cmd.AddCommand(newMessageActionCmd(a.use, a.short))
	}
	return cmd
}

// newMessageActionCmd is `message ACTION`: on the ids given, on the ids
// read from standard input ("-"), or on every message a filter selects.
func newMessageActionCmd(action, short string) *cobra.Command {
	var f queue.MessageFilter
	var olderThan string
	var ndr, all, dryRun, force bool
	c := &cobra.Command{
		Use:   action + " [ID... | - | --queue Q --from S --to R --state S --domain D --older-than AGE | --all]",
		Short: short,
		Long: short + `.

Messages are named by id (several may be given), by ids on standard input
("-": one per line, the first field of each line, so the output of
"umbra message list" can be piped after filtering), or selected by filter
(every filter given must match). --all selects every message. --dry-run
lists what would be done, and what the action would refuse, and does
nothing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			filtered := f != (queue.MessageFilter{}) || olderThan != ""
			switch {
			case len(args) > 0 && (filtered || all):
				return &exitError{code: exitUsage, err: fmt.Errorf("give ids or a filter, not both")}
			case len(args) == 0 && !filtered && !all:
				return &exitError{code: exitUsage, err: fmt.Errorf("give message ids, - (ids on standard input), a filter or --all")}
			}
			if olderThan != "" {
				now := time.Now()
				t, err := parseSince(olderThan, now)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--older-than: %w", err)}
				}
				if f.OlderThan = now.Sub(t); f.OlderThan <= 0 {
					f.OlderThan = time.Nanosecond
				}
			}
			if err := queue.CheckState(f.State); err != nil {
				return &exitError{code: exitNotFound, err: err}
			}
			if err := queue.CheckDomain(f.Domain); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--domain: %w", err)}
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				verb := action
				if dryRun {
					verb = "would " + action
				}
				// A large queue takes several requests (batches): what is
				// done so far goes to standard error after each.
				defer stopBatchesOnInterrupt(cmd, c, action)()
				res, err := c.BulkActionProgress(action, f, all, dryRun, ndr, force, func(sum admin.BulkResult) {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: so far %s matched, %d %s, %d failed%s\n",
						action, plural(sum.Matched, "message"), len(sum.Done), verb, len(sum.Failed), skippedText(sum.Skipped))
				})
				if err != nil {
					if sum := res; sum.Matched > 0 {
						// Batches finished before the error: those are done
						// (each message its own commit); a new run takes
						// the rest. Their lines go to standard output as an
						// uninterrupted run prints them (fixd19): what was
						// changed is not hidden behind the totals.
						err = apiErr(fmt.Errorf("%w\nbefore that: %s matched, %d %s, %d failed%s%s; run the command again for the rest",
							err, plural(sum.Matched, "message"), len(sum.Done), verb, len(sum.Failed), skippedText(sum.Skipped), notReached(sum)))
						reportBulkBefore(cmd, sum, err)
						return err
					}
					return apiErr(err)
				}
				if makesDue(action, dryRun) && len(res.Done) > 0 {
					defer stoppingNote(cmd, c)
				}
				return reportBulk(cmd, res)
			}
			ids := args
			if len(args) == 1 && args[0] == "-" {
				if ids, err = readIDs(cmd.InOrStdin()); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			}
			// An id given twice (lists joined, a grep) is one message,
			// counted and acted on once, in a dry run as in the real one
			// (rt23c F4).
			ids = uniqueIDs(ids)
			if len(ids) == 1 {
				return messageActionOne(cmd, c, action, ids[0], dryRun, ndr, force)
			}
			// Many ids: sent once, done in batches as a filter's, many
			// messages per commit (not one request and one commit per id).
			verb := action
			if dryRun {
				verb = "would " + action
			}
			defer stopBatchesOnInterrupt(cmd, c, action)()
			res, err := c.BulkActionIDs(action, ids, dryRun, ndr, force, func(sum admin.BulkResult) {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: so far %s, %d %s, %d failed%s%s\n",
					action, matchedText(sum), len(sum.Done), verb, len(sum.Failed), skippedText(sum.Skipped), notFoundText(sum))
			})
			// An id not found is named as given, by the one rule
			// (shown): a byte that is not UTF-8 reads \xNN, the text
			// \xNN \\xNN, in the lines and in --json.
			for i, id := range res.NotFound {
				res.NotFound[i] = shown(id)
			}
			if err != nil {
				if sum := res; sum.Matched > 0 {
					err = apiErr(fmt.Errorf("%w\nbefore that: %s, %d %s, %d failed%s%s%s; run the command again for the rest",
						err, matchedText(sum), len(sum.Done), verb, len(sum.Failed), skippedText(sum.Skipped), notFoundText(sum), notReached(sum)))
					reportBulkBefore(cmd, sum, err)
					return err
				}
				return apiErr(err)
			}
			if makesDue(action, dryRun) && len(res.Done) > 0 {
				defer stoppingNote(cmd, c)
			}
			return reportBulk(cmd, res)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.Queue, "queue", "", "messages with a recipient in this queue")
	fl.StringVar(&f.From, "from", "", "sender contains")
	fl.StringVar(&f.To, "to", "", "a recipient contains")
	fl.StringVar(&f.State, "state", "", "state: "+strings.Join(queue.MessageStates, ", "))
	fl.StringVar(&f.Domain, "domain", "", "a recipient's domain is")
	fl.StringVar(&olderThan, "older-than", "", "arrived at least this long ago (90m, 2h, 1d) or before an RFC 3339 time")
	fl.BoolVar(&all, "all", false, "every message")
	fl.BoolVar(&dryRun, "dry-run", false, "list the messages and do nothing")
	if action == "remove" {
		fl.BoolVar(&ndr, "ndr", false, "send the sender a non-delivery report")
		fl.BoolVar(&force, "force", false, "remove shadow copies of other servers' messages too (refused, or skipped by a filter, without it: "+
			"their primary is left with the only copy until its next holder probe learns of it and makes the copy again)")
	}
	return c
}

// messageActionOne is message ACTION on one id: its own request, its
// refusal as the command's error (an unknown id exits 3).
func messageActionOne(cmd *cobra.Command, c *admin.Client, action, id string, dryRun, ndr, force bool) error {
	var note string
	var err error
	if dryRun {
		note, err = c.CheckMessageActionNoted(id, action, force) // the action's checks, nothing changed
	} else {
		note, err = c.MessageActionNoted(id, action, ndr, force)
	}
	if err != nil {
		return apiErr(err)
	}
	if makesDue(action, dryRun) {
		defer stoppingNote(cmd, c)
	}
	if dryRun || wantJSON(cmd) {
		res := admin.BulkResult{Action: action, DryRun: dryRun, Matched: 1, Done: []string{shown(id)}}
		if note != "" {
			res.Notes = []admin.BulkNote{{ID: shown(id), Note: note}}
		}
		return reportBulk(cmd, res)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s: %s\n", id, action)
	if note != "" {
		fmt.Fprintf(out, "%s\n", termSafe(shown(id)+": "+note))
	}
	return nil
}

// uniqueIDs is ids with each id kept at its first place only.
func uniqueIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// readIDs reads message ids, the first field of each line; blank lines
// and the header line of `message list` are skipped.
func readIDs(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	// JSON (message list --json: an array, or one object a line): the
	// "id" of each object.
	for {
		b, err := br.Peek(1)
		if err != nil || (b[0] != ' ' && b[0] != '\t' && b[0] != '\r' && b[0] != '\n') {
			break
		}
		br.ReadByte()
	}
	if b, err := br.Peek(1); err == nil && (b[0] == '[' || b[0] == '{') {
		return readJSONIDs(br)
	}
	var ids []string
	sc := bufio.NewScanner(br)
	for n := 0; sc.Scan(); n++ {
		if n >= 10_000_000 {
			return nil, fmt.Errorf("too many lines on standard input")
		}
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || fs[0] == "ID" {
			continue
		}
		ids = append(ids, fs[0])
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no message ids on standard input")
	}
	return ids, nil
}

// readJSONIDs reads the ids of message list --json (an array of
// messages) or of JSON lines (one message object a line); r starts with
// '[' or '{'.
func readJSONIDs(r *bufio.Reader) ([]string, error) {
	type msg struct {
		ID *string `json:"id"`
	}
	var ids []string
	add := func(m msg) error {
		if m.ID == nil {
			return fmt.Errorf("a JSON object on standard input has no \"id\" (give message list --json, or ids one a line)")
		}
		if *m.ID == "" || strings.ContainsAny(*m.ID, " \t\r\n") || len(*m.ID) > 100 {
			return jsonsafe.Textf("not a message id on standard input: %s", queue.QuoteShown(*m.ID))
		}
		if len(ids) >= 10_000_000 {
			return fmt.Errorf("too many ids on standard input")
		}
		ids = append(ids, *m.ID)
		return nil
	}
	dec := json.NewDecoder(r)
	b, _ := r.Peek(1)
	array := b[0] == '['
	for {
		var ms []msg
		var err error
		if array {
			err = dec.Decode(&ms)
		} else {
			var m msg
			if err = dec.Decode(&m); err == nil {
				ms = []msg{m}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("standard input is not message list --json output: %v", err)
		}
		for _, m := range ms {
			if err := add(m); err != nil {
				return nil, err
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no message ids on standard input")
	}
	return ids, nil
}

// makesDue reports whether a message action makes messages due (they
// go now, or at the next start when the daemon is stopping).
func makesDue(action string, dryRun bool) bool {
	return !dryRun && (action == "retry" || action == "resume")
}

// reportBulk prints what a bulk action did: of the messages matched
// (of ids given, those that name a message here),
// those changed (ACTION), refused (failed), left as they were by
// reason (skipped: already in that state, …) and, of ids given, not
// found. A refusal or an id not found exits 1.
func reportBulk(cmd *cobra.Command, res admin.BulkResult) error {
	out := cmd.OutOrStdout()
	if wantJSON(cmd) {
		if err := printJSON(out, res); err != nil {
			return err
		}
	} else {
		verb := bulkLines(out, res)
		fmt.Fprintf(out, "%s, %d %s, %d failed%s%s\n", matchedText(res), len(res.Done), verb, len(res.Failed), skippedText(res.Skipped), notFoundText(res))
	}
	switch {
	case len(res.Failed) > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%s failed for %d of %s%s", res.Action, len(res.Failed), plural(res.Matched, "message"), notFoundText(res))}
	case len(res.NotFound) > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: %d of the %s given not found", res.Action, len(res.NotFound), plural(res.Matched, "message id"))}
	}
	return nil
}

// matchedText is "N messages matched"; of ids given some of which name
// nothing, "N message ids given, M matched": an id not found was not
// matched (rr-opsrt38).
func matchedText(res admin.BulkResult) string {
	if len(res.NotFound) > 0 {
		return fmt.Sprintf("%s given, %d matched", plural(res.Matched, "message id"), res.Matched-len(res.NotFound))
	}
	return plural(res.Matched, "message") + " matched"
}

// notFoundText is ", N not found" for the ids given that name no
// message here, "" for none.
func notFoundText(res admin.BulkResult) string {
	if len(res.NotFound) == 0 {
		return ""
	}
	return fmt.Sprintf(", %d not found", len(res.NotFound))
}

// bulkLines writes a bulk action's line for each message it changed
// (`ID: ACTION`) and each it failed on (`ID: failed: REASON`); it
// returns the verb of those lines.
func bulkLines(out io.Writer, res admin.BulkResult) string {
	verb := res.Action
	if res.DryRun {
		verb = "would " + res.Action
	}
	// A dry-run removal names what each message takes with it: the
	// recipients still to deliver and their queues (rt41 F6).
	takes := map[string][]admin.BulkRecipient{}
	tk := map[string]int{} // how many more than those named (admin.TakesShown)
	for _, t := range res.Takes {
		takes[t.ID], tk[t.ID] = t.Recipients, t.More
	}
	for _, id := range res.Done {
		rcpts := takes[id]
		if len(rcpts) == 0 {
			fmt.Fprintf(out, "%s: %s\n", id, verb)
			continue
		}
		parts := make([]string, len(rcpts))
		for i, rc := range rcpts {
			parts[i] = fmt.Sprintf("%s (queue %s)", termSafe(rc.Address), termSafe(rc.Queue))
		}
		more := ""
		if n := tk[id]; n > 0 {
			more = fmt.Sprintf(" and %d more (%d in all)", n, n+len(rcpts))
		}
		fmt.Fprintf(out, "%s: %s with its recipients %s%s\n", id, verb, strings.Join(parts, ", "), more)
	}
	if res.OtherQueues > 0 {
		fmt.Fprintf(out, "a removal takes the whole message: %s in other queues than the one selected would go too\n", plural(res.OtherQueues, "recipient"))
	}
	for _, f := range res.Failed {
		fmt.Fprintf(out, "%s: failed: %s\n", termSafe(f.ID), termSafe(f.Error))
	}
	// Of ids given: each left as it was, each not found, and what
	// follows from an action (a removal of a damaged shadow copy).
	for _, u := range res.Unchanged {
		fmt.Fprintf(out, "%s: unchanged: %s\n", termSafe(u.ID), termSafe(u.Error))
	}
	for _, id := range res.NotFound {
		fmt.Fprintf(out, "%s: not found\n", termSafe(id))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(out, "%s: %s\n", termSafe(n.ID), termSafe(n.Note))
	}
	// Removed by filter with --ndr, and no DSN sent: counted by reason
	// (an id given says it in its note).
	whys := make([]string, 0, len(res.NoDSN))
	for why := range res.NoDSN {
		whys = append(whys, why)
	}
	slices.Sort(whys)
	for _, why := range whys {
		fmt.Fprintf(out, "no DSN was sent for %d of them: %s\n", res.NoDSN[why], termSafe(why))
	}
	return verb
}

// reportBulkBefore writes what the batches answered before err (an
// interruption, the daemon gone) did: the lines of an uninterrupted run
// without its totals, which err carries to standard error; with --json
// the result so far with err's text and exit status, one object, as
// a refusal's (main prints none then).
func reportBulkBefore(cmd *cobra.Command, res admin.BulkResult, err error) {
	out := cmd.OutOrStdout()
	if wantJSON(cmd) {
		printJSON(out, struct {
			admin.BulkResult
			Error string `json:"error"`
			Exit  int    `json:"exit"`
		}{res, err.Error(), exitCode(err)})
		return
	}
	bulkLines(out, res)
}

// skippedText is ", N skipped (REASON: N, …)" for the messages a bulk
// action left untouched, "" for none.
// notReached is what the summary of a command cut short adds: how many
// of the messages it selected its batches did not reach (rt21c L1).
func notReached(sum admin.BulkResult) string {
	if left := sum.Selected - sum.Matched; left > 0 {
		return fmt.Sprintf("; %d of the %d selected not reached", left, sum.Selected)
	}
	return ""
}

func skippedText(skipped map[string]int) string {
	if len(skipped) == 0 {
		return ""
	}
	reasons := make([]string, 0, len(skipped))
	n := 0
	for why, k := range skipped {
		reasons = append(reasons, fmt.Sprintf("%s: %d", why, k))
		n += k
	}
	sort.Strings(reasons)
	return fmt.Sprintf(", %d skipped (%s)", n, strings.Join(reasons, ", "))
}

// printRecipients is message show's recipient table: those the answer
// names (the first admin.RecipientsShown without --all) and a line
// counting the rest, with the command that lists them.
func printRecipients(out io.Writer, m admin.MessageView) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nRECIPIENT\tSTATUS\tQUEUE\tNEXT HOP\tLAST REPLY")
	for _, r := range m.Recipients {
		hop := orDash(r.NextHop)
		if r.NextHop == "" && r.Status == "active" {
			hop = "(this attempt's: not known yet)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", termSafe(r.Address), r.Status, orDash(r.Queue), hop, orDash(r.LastReply))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if m.RecipientsMore > 0 {
		_, err := fmt.Fprintf(out, "and %d more (%d in all; umbra message show --all %s lists every one)\n",
			m.RecipientsMore, m.RecipientsMore+len(m.Recipients), m.ID)
		return err
	}
	return nil
}

// waitsOf is each distinct wait of m's recipients on a host (their
// waiting_on), the longest first.
func waitsOf(m admin.MessageView) []queue.Stall {
	var out []queue.Stall
	for _, r := range m.Recipients {
		if r.WaitingOn != nil && !slices.Contains(out, *r.WaitingOn) {
			out = append(out, *r.WaitingOn)
		}
	}
	if len(out) == 0 && m.WaitingOn != nil {
		out = append(out, *m.WaitingOn)
	}
	slices.SortStableFunc(out, func(a, b queue.Stall) int { return a.Since.Compare(b.Since) })
	return out
}

// copyLine is message show's "copy:" line: the server holding the copy,
// then each other one a push reached without confirmation (rt20a F3):
// "on hub-c; unconfirmed push to hub-b (discard owed)" — "(may hold a
// copy)" while no discard is written for it yet.
func copyLine(holder string, unconfirmed []queue.UnconfirmedPush) string {
	var parts []string
	if holder != "" {
		parts = append(parts, "on "+termSafe(holder))
	} else {
		parts = append(parts, "none confirmed")
	}
	for _, p := range unconfirmed {
		what := "may hold a copy"
		if p.DiscardOwed {
			what = "discard owed"
		}
		parts = append(parts, fmt.Sprintf("unconfirmed push to %s (%s)", termSafe(p.Server), what))
	}
	return strings.Join(parts, "; ")
}
