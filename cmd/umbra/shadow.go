package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

func newShadowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "shadow", Short: "Shadow redundancy: the copies this server keeps for its primaries"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the primaries this server holds shadow copies for, with copies (held for it, and taken over from it and not handed on yet, wherever they wait: its shadow queue, a route's queue, a redirect, poison; TAKEN OVER counts the latter), oldest, last contact, failed heartbeats, state, database id (and the ids its taken-over copies were taken over under, when another: NEW (taken over under OLD)) and why: the last refusal, or the last heartbeat error and when the takeover comes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			vs, err := c.Shadows()
			if err != nil {
				return apiErr(err)
			}
			single, err := c.SingleCopies()
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), vs) // the messages held here only: shadow single --json
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PRIMARY\tCOPIES\tTAKEN OVER\tOLDEST\tLAST CONTACT\tFAILED HEARTBEATS\tSTATE\tDATABASE ID\tWHY")
			for _, v := range vs {
				last := "-"
				if !v.LastContact.IsZero() {
					last = time.Since(v.LastContact).Round(time.Second).String() + " ago"
					if !v.ReachesHere.IsZero() {
						// Its session here, not this server's to it.
						last += " (its session here)"
					}
				}
				why := "-"
				switch {
				case v.Refused != "":
					why = "refused since " + time.Since(v.RefusedSince).Round(time.Second).String() + " ago: " + v.Refused
					if v.RefusedSince.IsZero() {
						// A refusal kept in the database (a primary that
						// disowned this server), read after a restart.
						why = "refused: " + v.Refused
					}
					if !v.TakeoverAt.IsZero() {
						// Refused here (another server's database id): its
						// heartbeats count as failed (rt23a F1).
						why += "; " + takeoverText(v.TakeoverAt, v.TakeoverBy, time.Now())
					}
					if v.ExpiryKept != "" {
						// The primary's own refusal: its copies are not
						// taken over at their expiry (shadow31 S3).
						why += "; " + v.ExpiryKept
					}
				case v.TakenOverWhy != "":
					// Taken over for failed heartbeats, and they go on.
					why = "taken over: " + v.TakenOverWhy
				case v.Unreachable != "":
					// Heartbeats fail: counted towards the takeover.
					why = takeoverText(v.TakeoverAt, v.TakeoverBy, time.Now()) + ": " + v.Unreachable
					if v.TakeoverWaiting != "" {
						// Its commit failed (a full disk): not "due" at a
						// time past (rt42 F3).
						why = "takeover waiting: " + v.TakeoverWaiting + ": " + v.Unreachable
					} else if !v.ReachesHere.IsZero() {
						why = oneWayText(v, time.Now())
					}
				}
				// The oldest of its shadow queue: "-" when that is empty
				// (every copy taken over waits elsewhere), not a 0s that
				// reads as a copy just arrived.
				oldest := "-"
				if v.OldestAge > 0 {
					oldest = v.OldestAge.Round(time.Second).String()
				}
				// Every text field passes termSafe once: a refusal or a
				// heartbeat's error is the peer's text, and a tab or
				// newline in it would shift the columns.
				state := v.State
				if v.NotInTopology {
					// A reload dropped it from the topology: what is
					// held of it is still answered to it (departed42).
					state += ", not in topology"
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", termSafe(v.Primary), v.Copies, v.TakenOverCopies, oldest, last,
					failedHeartbeatsText(v), termSafe(state), termSafe(v.DatabaseShown()), termSafe(why))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			printSingle(cmd, single, 10)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "forget-database DATABASE-ID",
		Short: "Forget a transport database id met as a server's: another server presenting it is no longer refused (its database now runs under that server's name)",
		Long: "Forget a transport database id met as a server's: another server presenting it is no longer refused as presenting another server's database " +
			"(550 5.7.1 Database id <id> is another server's here).\n\n" +
			"A database id met as one server's stays that server's — also after the last copy kept for it went, and after that server presented a new one " +
			"(the old id is retired, still that server's) — until this command forgets it: run it, on each server that refuses, when a database was moved to a server of another name. " +
			"It forgets a retired id as well as one whose record went. " +
			"Refused (exit 1, nothing changed) while a primary's record here still holds the id (umbra shadow list shows it), or a shadow server of messages held here presents it now.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			was, err := c.ForgetDatabaseID(args[0])
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]any{"database_id": args[0], "was": was})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "forgot transport database id %s (met as %s): a server presenting it is no longer refused as another's\n",
				termSafe(args[0]), termSafe(strings.Join(was, ", ")))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "single",
		Short: "List the messages that lost their shadow copy (with its server's database: a new database id), whose copy on receipt could not be made, or that were taken over: held by this server only until copied again on a shadow server that answers (a hub of the copy-on-receipt preference, or the server the copy was lost on)",
		Long: "List the messages that lost their shadow copy (with its server's database: a new database id), whose copy on receipt could not be made, or that were taken over: " +
			"held by this server only until copied again on a shadow server that answers: a hub of the receive connector's shadow_on_receipt preference " +
			"(prefer-remote for mail relayed in), or the server the copy was lost on, once it answers again — an edge too, which is no candidate for copies on receipt. " +
			"Each pass (every shadow_heartbeat_timeout) tries them; with none answering the message stays listed.\n\n" +
			"Mail that never had a shadow copy is not listed: a message accepted without shadow on receipt is on this server's disk alone until its first relay " +
			"makes the copy (umbra message list shows it). With nothing listed the command says so (none:).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			single, err := c.SingleCopies()
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), single)
			}
			unreached, _ := c.UnreachedHolders() // an older daemon: none
			if len(single) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), singleNone)
			}
			printSingle(cmd, single, -1)
			printUnreached(cmd, unreached)
			return nil
		},
	})
	return cmd
}

// singleNone is what shadow single says with nothing to list: what it
// lists, and what it never does.
const singleNone = "none: no message lost its shadow copy, had its copy on receipt not made, or waits taken over uncopied " +
	"(mail never copied — accepted without shadow on receipt, waiting for its first relay — is not listed: umbra message list)"

// printSingle shows the messages held by this server only (up to max of
// them; -1 all), after shadow list's table: their copies were lost or
// not made, so this server's disk is their only one.
//
// A message whose copy may exist on a server its push got no
// confirmation from (Unconfirmed) is listed in a section of its own,
// never as held by this server only: an operator reading that believes
// no second copy may exist (receipt48 item 2).
func printSingle(cmd *cobra.Command, single []admin.SingleCopyView, max int) {
	var only, unconfirmed []admin.SingleCopyView
	for _, s := range single {
		if s.Unconfirmed {
			unconfirmed = append(unconfirmed, s)
		} else {
			only = append(only, s)
		}
	}
	out := cmd.OutOrStdout()
	if len(only) > 0 {
		their := "their shadow copy was" // a count's sentence agrees with it (rt33c F8)
		if len(only) == 1 {
			their = "its shadow copy was"
		}
		fmt.Fprintf(out, "\n%s held by this server only (%s lost, discarded by a hold or not made; copied again once a hub of the copy-on-receipt preference or the server it was lost on answers):\n", plural(len(only), "message"), their)
		printSingleRows(out, only, max, "COPY LOST ON")
	}
	if len(unconfirmed) > 0 {
		their := "their shadow copy"
		if len(unconfirmed) == 1 {
			their = "its shadow copy"
		}
		fmt.Fprintf(out, "\n%s with %s unconfirmed (a push got no confirmation once the copy may have reached the server: a copy may exist there; made again once a shadow server answers, and each such server gets its discard):\n", plural(len(unconfirmed), "message"), their)
		printSingleRows(out, unconfirmed, max, "COPY MAY EXIST ON")
	}
}

// printSingleRows is one table of printSingle, its second column headed
// column.
func printSingleRows(out io.Writer, single []admin.SingleCopyView, max int, column string) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MESSAGE\t"+column+"\tSINCE")
	for i, s := range single {
		if max >= 0 && i >= max {
			fmt.Fprintf(w, "…\t%d more: umbra shadow single\t\n", len(single)-max)
			break
		}
		lost := termSafe(s.Lost)
		if lost == "" {
			lost = "- (none made at receipt)"
		}
		if s.TakenOver {
			lost = "- (taken over from " + lost + ")"
		}
		if what := singleHowText[s.How]; what != "" {
			lost += " (" + what + ")" // not lost: what befell it (rt20f F4)
		}
		if s.Refused != "" {
			lost += " (refused: " + termSafe(s.Refused) + ")"
		}
		if s.HolderUnreached != "" {
			lost += " (" + s.HolderUnreached + ")"
		}
		if len(s.AlsoPushed) > 0 {
			names := make([]string, len(s.AlsoPushed))
			for i, n := range s.AlsoPushed {
				names[i] = termSafe(n)
			}
			lost += " (also pushed, unconfirmed: " + strings.Join(names, ", ") + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.ID, lost, s.Since.UTC().Format(time.RFC3339))
	}
	w.Flush()
}

// printUnreached shows the shadow servers no probe reached since the
// daemon's start (rt30a F2): the messages whose copy they hold may have
// been taken over and delivered there while this server was away; this
// server cannot ask them what they finished, so it delivers them too.
func printUnreached(cmd *cobra.Command, us []admin.UnreachedHolder) {
	if len(us) == 0 {
		return
	}
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "\nshadow servers not reachable since this server's start (each may have taken over and delivered the copies it holds while this server was away; what it finished cannot be asked until it answers, so those delivered here may arrive twice):")
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SHADOW SERVER	MESSAGES	SINCE	NOTE")
	for _, u := range us {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", termSafe(u.Server), u.Messages, u.Since.UTC().Format(time.RFC3339), u.Note)
	}
	w.Flush()
}

// singleHowText is what shadow list and shadow single say of a copy
// that was not lost with its server's database, by what befell it
// (SingleCopyView.How; queue.SingleCopy.String says the same).
var singleHowText = map[string]string{
	queue.HowHeld:        "discarded when the message was held; made again when it goes",
	queue.HowQuarantined: "discarded when the message was quarantined; made again now that it is released",
	queue.HowRemoved:     "removed by the administrator there",
	queue.HowDamaged:     "a copy there was damaged and set aside",
	queue.HowRolledBack:  "missing there: its database file was rolled back",
	queue.HowUnreachable: "unreachable since then, for longer than the takeover delay",
	queue.HowPushCut:     "a stop cut its push there short: it may store it, and gets its discard when the copy is made elsewhere",
	queue.HowNoReply:     "its push there got no reply (the connection lost, or the push's bound run out): it may store it, and gets its discard when the copy is made elsewhere",
}

// oneWayText is shadow list's WHY for a primary this server cannot
// reach while its own sessions reach this server (a link failing one
// way, partition49 F2): each of them moves the takeover on, so the
// forecast holds only if they stop; and whether the primary hands its
// discards here itself (XDISCARD), as this server cannot fetch them.
func oneWayText(v admin.ShadowView, now time.Time) string {
	ago := func(t time.Time) string { return now.Sub(t).Round(time.Second).String() + " ago" }
	why := "this server cannot reach it (" + v.Unreachable + "); it reaches this server (its last session here " + ago(v.ReachesHere) +
		"): no takeover while it does"
	if !v.TakeoverAt.IsZero() {
		why += " (if it stops: " + takeoverText(v.TakeoverAt, v.TakeoverBy, now) + ")"
	}
	if v.PushedHere.IsZero() {
		return why + "; none of its discards handed here by it since this start"
	}
	return why + "; its discards handed here by it, last " + ago(v.PushedHere)
}

// takeoverText forecasts the takeover of a primary whose heartbeats
// fail: the last heartbeat starts at at and takes the copies over when it
// fails, which is at once for a refused connection and by by (one command
// timeout later) for a primary that hangs. Before at: "takeover in 15s
// (…), by … if it hangs"; after: "takeover when the heartbeat started at
// … fails, by …".
func takeoverText(at, by, now time.Time) string {
	if at.IsZero() {
		return "takeover time unknown"
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	hang := ""
	if by.After(at) {
		hang = ", by " + stamp(by) + " if it hangs"
	}
	if d := at.Sub(now).Round(time.Second); d > 0 {
		return "takeover in " + d.String() + " (" + stamp(at) + ")" + hang
	}
	if by.After(now) {
		return "takeover when the heartbeat started at " + stamp(at) + " fails" + hang
	}
	return "takeover due (" + stamp(at) + ")"
}

// failedHeartbeatsText is shadow list's FAILED HEARTBEATS: the count,
// and for a primary reaching this server one way that each of its
// sessions resets it (queue shadowAlive), so a 0 there is no heartbeat
// that passed (partition49).
func failedHeartbeatsText(v admin.ShadowView) string {
	n := strconv.Itoa(v.FailedHeartbeats)
	if !v.ReachesHere.IsZero() {
		return n + " (reset by its sessions here)"
	}
	return n
}
