package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"umbra/internal/jsonsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/queue"
)

// newDBCmd is the transport database's life cycle: backup of the running
// database through the admin socket; restore and compaction with the
// daemon stopped (they take the database file's lock, so they refuse
// while it runs).
func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "The transport database: backup, restore, compaction"}
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Save a consistent copy of the running transport database as FILE (a new file, fsync'd)",
		Long: "Save a consistent copy of the running transport database as FILE, through the admin socket: the\n" +
			"database as of one transaction, while mail keeps flowing. FILE must not exist. A database restored\n" +
			"from it (umbra db restore) starts under a new database id, so that the shadow servers resubmit the\n" +
			"messages acknowledged after the backup. A spool file that is missing or truncated fails the backup,\n" +
			"naming the messages using it; --skip-unreadable writes it without those bodies and lists them.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Never inside the spool (its files are the bodies), a Maildir
			// tree or the pickup directory: refused before the daemon is
			// asked, and judged again on the directory the backup holds
			// (place).
			place, err := checkWritePlaceHeld(cmd, "db backup", args[0])
			if err != nil {
				return err
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			// A signal ends the copy and removes the partial file
			// (SaveBackup) instead of leaving it behind.
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			skip, _ := cmd.Flags().GetBool("skip-unreadable")
			// What killed backups to this file left (kill -9, an OOM
			// kill): removed from the directory the backup holds and
			// said, never left to pile up unseen.
			var stale queue.StalePartials
			if queue.CheckBackupTarget(args[0]) == nil {
				// Before the daemon is asked, as the README says: a
				// backup it refuses still clears what killed ones left.
				stale = queue.RemoveStalePartials(args[0])
				notePartials(cmd, args[0], stale)
			}
			n, skipped, err := c.BackupIn(ctx, args[0], skip, queue.SaveOptions{Place: place, Stale: func(st queue.StalePartials) {
				stale.Removed = append(stale.Removed, st.Removed...)
				notePartials(cmd, args[0], queue.StalePartials{Removed: st.Removed})
			}})
			if err != nil && ctx.Err() != nil {
				return &exitError{code: exitFailure, err: jsonsafe.Textf("backup %s: interrupted; no file was written", shown(args[0]))}
			}
			var ae *admin.APIError
			if err != nil && !errors.As(err, &ae) {
				// Refused here (the file exists, its directory is
				// missing): the text names the file as given, once.
				err = shownErr(err, args[0])
			}
			if err != nil {
				return apiErr(err)
			}
			if wantJSON(cmd) {
				out := map[string]any{"file": shown(args[0]), "bytes": n}
				if len(stale.Removed) > 0 {
					removed := make([]queue.StalePartial, len(stale.Removed))
					for i, p := range stale.Removed {
						removed[i] = queue.StalePartial{Path: shown(p.Path), Bytes: p.Bytes}
					}
					out["removed_partials"] = removed
				}
				if skipped != nil {
					out["without_body"] = skipped
				}
				if stale.Unlisted != nil {
					out["partials_not_searched"] = shown(filepath.Dir(args[0])) // the directory may not be listed
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s: %s\n", shown(args[0]), size(n))
			if len(skipped) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s NOT in this backup (%s spool file is unreadable); restored, a message is held as poison and a dumpster copy is skipped by redelivery:\n",
					nouns(len(skipped), "body", "bodies"), isAre(len(skipped)), map[bool]string{true: "its", false: "their"}[len(skipped) == 1])
				for _, u := range skipped {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", u)
				}
			}
			return nil
		},
	}
	backup.Flags().Bool("skip-unreadable", false, "write the backup even when spool files are missing or truncated: the messages using them are recorded without their body (listed; restored, a message is held as poison and a dumpster copy is skipped by redelivery) instead of failing the backup")
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Put a backup in place of the transport database (umbra stopped); the old file is kept aside",
		Long: "Put a backup in place of the transport database, with umbra stopped. The backup is checked first: every\n" +
			"page read, and every message record and body compared with the checksums umbra db backup recorded in it;\n" +
			"a backup whose bytes changed since (bit rot, a bad copy) is refused, naming the message, and nothing is\n" +
			"replaced; so is a backup of a schema version newer than this release knows (written by a newer release).\n" +
			"The replaced database is kept as queue.db.replaced-TIME, its spool directory as\n" +
			"spool.replaced-TIME (the same suffix). Bodies over transport.spool_threshold go back into spool files, so\n" +
			"that delivery streams them, and the restored file is compacted. The restored files take the owner of the\n" +
			"database they replace, else of the data directory; run as root where the data directory does not exist,\n" +
			"the restore is refused unless --owner names the user umbra runs as, for whom it is made (mode 0750). With --owner\n" +
			"the restored files are written for that user, and the data directory and spool are given to it only once the\n" +
			"restore is past every check: the data directory just before the restored file takes the database's name\n" +
			"(given back should that rename fail), the spool directory before the restore lets go of the database's lock.\n" +
			"A refused restore (umbra runs, a damaged backup, ...) changes no owner. Only root may name another user.\n" +
			"From its first step the restore holds the db commands' side lock beside the database (queue.db.cmdlock, its\n" +
			"pid and command line in it): an umbra serve started meanwhile waits for it to end, then opens what it left.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := discoverConfig(cmd)
			if err != nil {
				return err
			}
			path := filepath.Join(cfg.Server.DataDir, "queue.db")
			owner, _ := cmd.Flags().GetString("owner")
			if err := checkRestoreOwner(owner); errors.As(err, new(errOwnerNotRoot)) {
				return &exitError{code: exitNoPerm, err: shownErr(fmt.Errorf("restore: %w", err), args[0], owner)}
			} else if err != nil {
				// No such user or group here: the argument names
				// nothing, a usage error before the backup is read.
				return &exitError{code: exitUsage, err: shownErr(fmt.Errorf("restore: %w", err), args[0], owner)}
			}
			if _, err := os.Lstat(args[0]); errors.Is(err, os.ErrNotExist) {
				// Words and exit 3, not "stat …: no such file or
				// directory", exit 1 (rt33c F6).
				return &exitError{code: exitNotFound, err: shownErr(fmt.Errorf("db restore: no backup file %s: nothing was changed", args[0]), args[0])}
			}
			// Another server's backup is refused (without --force) by the
			// restore, under its lock (ops27 3): nothing is read before it.
			origin := cfg.Server.Name
			if force, _ := cmd.Flags().GetBool("force"); force {
				origin = ""
			}
			unverified, _ := cmd.Flags().GetBool("unverified")
			// A machine rebuilt after its disk died has no data directory
			// yet: made as umbra serve makes it, for the user umbra runs
			// as (restoreowner.go). Nothing changes owner before the
			// restore has succeeded, and a directory made for it is
			// removed again when it is refused (rt17a F1).
			if err := otherServeForDataDir(cmd, cfg.Server.DataDir); err != nil {
				return err
			}
			rd, err := prepareRestoreDir(cfg.Server.DataDir, owner)
			if err != nil {
				return restoreDirRefusal(err, cfg.Server.DataDir, args[0], owner)
			}
			refused := true
			defer func() {
				if refused {
					rd.undo()
				}
			}()
			// What the replaced database holds that the backup lacks and
			// no shadow server keeps: left behind, it is never delivered
			// (restoreloss.go). Refused unless --discard-newer. Counted
			// under the restore's lock, as the database it replaces is
			// (a message accepted before the lock is in the count).
			discard, _ := cmd.Flags().GetBool("discard-newer")
			restoredSchema := 0
			var lost []queue.NotInBackup
			var gone []queue.GoneSinceBackup     // finished since the backup: restored suspended (queue/restoregone.go)
			var heldKept []queue.GoneSinceBackup // suspended by the operator in the replaced database: kept so
			var queuesKept []string              // suspended in the replaced database, not in the backup: kept so
			var known bool
			fromFile := 0 // messages beyond the backup that come back from their pickup file
			errLost := errors.New("messages left behind")
			// The data directory replaced after the restore's rename
			// (rt30c F3): done in the directory held, now at movedTo.
			var movedTo *string
			// --owner: the data directory and spool are given to that
			// user within the restore, the data directory before the
			// restored file takes the name (queue.RestoreOptions).
			// Ctrl-C (SIGINT), SIGTERM or SIGHUP stop the restore at its
			// next step before it replaces the database, what it made
			// removed (exit 130); after the rename it finishes.
			sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer stopSignals()
			go func() { <-sigCtx.Done(); stopSignals() }() // a second signal ends it at once (the next start finishes or removes the rest)
			kept, err := queue.RestoreWith(args[0], path, queue.RestoreOptions{Unverified: unverified,
				Interrupted:    func() bool { return sigCtx.Err() != nil },
				SpoolThreshold: int64(cfg.Transport.SpoolThreshold), Owner: rd.owner, GiveDataDir: rd.owner != nil,
				Begun:  func() { holdForTest("UMBRA_TEST_HOLD_RESTORE") }, // startmark.go
				Server: origin,
				// A backup of an older release is restored in its version:
				// noted from the backup, read under the lock.
				BackupSchema: func(v int) { restoredSchema = v },
				DirReplaced:  func(now string) { movedTo = &now },
				Gone:         func(g []queue.GoneSinceBackup) { gone = g },
				Holds:        func(h []queue.GoneSinceBackup, qs []string) { heldKept, queuesKept = h, qs },
				Lost: func(l []queue.NotInBackup, k bool) error {
					// A pickup message whose file is still in the
					// directory comes back from it at the next start
					// (given back as NAME.restored-ID.eml): not lost.
					l, fromFile = fromPickupFiles(l, cfg.Pickup.Directory)
					if lost, known = l, k; len(l) > 0 && !discard {
						return errLost
					}
					return nil
				}})
			if errors.Is(err, errLost) {
				// lostLines shows its senders and recipients already:
				// in the text form, not escaped a second time.
				return &exitError{code: exitFailure, err: jsonsafe.Textf("restore: %s holds %s that the backup %s lacks and "+
					"that no shadow server keeps a copy of: after the restore nothing would deliver them (they would stay in the "+
					"replaced file, queue.db.replaced-TIME). The database is unchanged. Start umbra on it and let those be "+
					"delivered (or umbra message export them) before restoring, or restore with --discard-newer to leave "+
					"them behind%s:\n%s", shown(path), plural(len(lost), "message"), shown(args[0]), fromFileNote(fromFile), lostLines(lost))}
			}
			if errors.Is(err, queue.ErrInterrupted) {
				return &exitError{code: exitInterrupted, err: shownErr(err, args[0])}
			}
			if kept != "" || err == nil {
				refused = false // the database is replaced
			}
			if err != nil {
				return &exitError{code: exitFailure, err: shownErr(restorePermission(cfg.Server.DataDir, err), args[0], cfg.Server.DataDir)}
			}
			noteSchema(cmd, path, restoredSchema) // a backup of an older release: restored in its version
			// Where the restore was done: the data directory as it was
			// held, when its path leads elsewhere now.
			restoredAs, replacedErr := path, error(nil)
			if movedTo != nil {
				restoredAs, kept, replacedErr = dirReplacedAfter("restore", cfg.Server.DataDir, *movedTo, path, kept)
			}
			if wantJSON(cmd) {
				out := map[string]any{"file": shown(args[0]), "database": shown(restoredAs)}
				if movedTo != nil {
					out["data_dir_replaced"] = true
				}
				if kept != "" {
					out["replaced_kept_as"] = kept
					out["replaced_readable"] = known
					out["from_pickup_files"] = fromFile
					var ids []string
					for _, m := range lost {
						ids = append(ids, m.ID.String())
					}
					out["left_behind"] = ids
					suspended := []string{}
					for _, m := range gone {
						suspended = append(suspended, m.ID.String())
					}
					out["restored_suspended"] = suspended
					keptIDs := []string{}
					for _, m := range heldKept {
						keptIDs = append(keptIDs, m.ID.String())
					}
					out["kept_suspended"] = keptIDs
					out["queues_kept_suspended"] = append([]string{}, queuesKept...)
				}
				if kept == "" {
					out["no_database_replaced"] = true
				}
				if err := printJSON(cmd.OutOrStdout(), out); err != nil || replacedErr == nil {
					return err
				}
				return &exitError{code: exitFailure, err: replacedErr}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "restored %s as %s; it starts under a new database id\n", shown(args[0]), shown(restoredAs))
			if kept == "" {
				// No database here to replace (a machine rebuilt after its
				// disk died): what the lost one held beyond the backup is
				// as unknown as an unreadable one's (rt37 life).
				if cfg.Topology == "" {
					fmt.Fprintf(w, "there was no database here to replace: what the lost one held beyond the backup is not known; this server has no shadow servers, so mail it accepted after the backup is lost with it\n")
				} else {
					fmt.Fprintf(w, "there was no database here to replace: what the lost one held beyond the backup is not known; the messages a shadow server keeps come back from it, the others do not\n")
				}
			}
			if kept != "" {
				// The file's name last: a script takes it from the end.
				defer fmt.Fprintf(w, "the replaced database is kept as %s\n", shown(kept))
				// Which case applied; a server with no topology has no
				// shadow servers, and its summary names none (rt17a F5).
				single := cfg.Topology == ""
				if fromFile > 0 {
					fmt.Fprintf(w, "%s the replaced database held beyond the backup %s back from %s in the pickup directory: "+
						"the next start gives %s back as NAME.restored-ID.eml and submits %s again\n",
						plural(fromFile, "message"), pick(fromFile, "comes", "come"), pick(fromFile, "its file", "their files"),
						pick(fromFile, "it", "them"), pick(fromFile, "it", "them"))
				}
				if len(gone) > 0 {
					// The other direction (rt45 F2): finished in the
					// replaced database after the backup; restored as
					// they were, they would all go again.
					fmt.Fprintf(w, "%s the backup holds %s no longer in the replaced database, or no longer to deliver there to a recipient it lists (delivered, relayed, removed, bounced or expired after the backup): "+
						"restored suspended, so that %s not go again:\n%s"+
						"umbra message resume ID sends one again (umbra message list --state suspended lists them); umbra message remove ID drops one\n",
						plural(len(gone), "message"), isAre(len(gone)), pick(len(gone), "it does", "they do"), goneLines(gone))
				}
				if len(heldKept) > 0 {
					// The operator's holds made after the backup (rt47
					// F3): a restore does not release them.
					fmt.Fprintf(w, "%s the backup holds to deliver %s suspended by the operator in the replaced database: kept suspended, as it held %s:\n%s"+
						"umbra message resume ID releases one\n",
						plural(len(heldKept), "message"), isAre(len(heldKept)), pick(len(heldKept), "it", "them"), goneLines(heldKept))
				}
				if len(queuesKept) > 0 {
					fmt.Fprintf(w, "%s suspended in the replaced database and not in the backup %s kept suspended: %s (umbra queue resume NAME releases one)\n",
						pick(len(queuesKept), "the queue", "the queues"), pick(len(queuesKept), "is", "are"), termSafe(strings.Join(queuesKept, ", ")))
				}
				switch {
				case !known && single:
					fmt.Fprintf(w, "the replaced database could not be read: what it held beyond the backup is not known; this server has no shadow servers, so mail it accepted after the backup is not delivered (it stays in the replaced file); "+
						"nor is it known what it finished since the backup, nor what it held suspended (message suspend, queue suspend) after the backup: every message of the backup is restored to be delivered, and only the backup's own holds are kept\n")
				case !known:
					fmt.Fprintf(w, "the replaced database could not be read: what it held beyond the backup is not known; the messages a shadow server keeps come back from it, the others do not; "+
						"nor is it known what it finished since the backup, nor what it held suspended (message suspend, queue suspend) after the backup: every message of the backup is restored to be delivered, and only the backup's own holds are kept\n")
				case len(lost) > 0 && single:
					fmt.Fprintf(w, "%s the replaced database held beyond the backup %s left in it and not delivered (--discard-newer; this server has no shadow servers):\n%s",
						plural(len(lost), "message"), isAre(len(lost)), lostLines(lost))
				case len(lost) > 0:
					fmt.Fprintf(w, "%s the replaced database held beyond the backup, which no shadow server keeps, %s left in it and not delivered (--discard-newer):\n%s",
						plural(len(lost), "message"), isAre(len(lost)), lostLines(lost))
				case single && fromFile > 0:
					fmt.Fprintf(w, "the replaced database held no other message beyond the backup with recipients still to deliver: nothing is left behind\n")
				case single:
					fmt.Fprintf(w, "the replaced database held no message beyond the backup with recipients still to deliver: nothing is left behind\n")
				default:
					fmt.Fprintf(w, "every message the replaced database held beyond the backup, if any, is kept by a shadow server, which resubmits it to the new database id\n")
				}
			}
			if replacedErr != nil {
				return &exitError{code: exitFailure, err: replacedErr}
			}
			return nil
		},
	}
	restore.Flags().Bool("discard-newer", false, "restore even though the replaced database holds messages the backup lacks that no shadow server keeps (listed): they stay in the replaced file and are not delivered")
	restore.Flags().Bool("unverified", false, "restore a backup that carries no checksums (written by an umbra release before they were recorded): its pages are read, but a changed byte in a message is not found")
	restore.Flags().String("owner", "", "USER[:GROUP] umbra runs as: the restored files are written for it and, once the restore has succeeded, the data directory (made if missing, mode 0750) and spool are given to it; needed when run as root on a data directory that is missing or root's; another user than the one running the command only as root")
	restore.Flags().Bool("force", false, "restore a backup of another server (server.name) too: this server then delivers that server's queued mail, and its shadow servers resubmit theirs (duplicates)")
	compact := &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the transport database without its free space (umbra stopped); report sizes before and after",
		Long: "Rewrite the transport database without its free space, with umbra stopped, and report its sizes before and\n" +
			"after. A body over transport.spool_threshold that the database holds whole (written by a release before\n" +
			"large messages were streamed) is moved into a spool file on the way, so that delivery streams it.\n" +
			"With --schema 4 the copy is written in the layout of schema version 4 (every message record without its\n" +
			"checksum), which the release before version 5 reads; with --schema 3 also every body a value of its table\n" +
			"again, which the release before version 4 reads: the way back before rolling back the binary. No other --schema\n" +
			"value is taken: without it the copy keeps the file's own version, and no compaction upgrades a file (umbra serve\n" +
			"does, at its start). From its first\n" +
			"step it holds the db commands' side lock (queue.db.cmdlock): an umbra serve started meanwhile waits for it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			schema, _ := cmd.Flags().GetInt("schema")
			err := queue.CheckCompactSchema(schema)
			if err == nil && schema == 0 && cmd.Flags().Changed("schema") {
				// 0 given is no version either: only the flag left out
				// keeps the file's own.
				err = fmt.Errorf("schema version 0: %w", queue.ErrCompactSchema)
			}
			if err != nil {
				// A version it does not write means nothing here: a
				// usage error, before anything is opened.
				return &exitError{code: exitUsage, err: fmt.Errorf("--schema: %w", err)}
			}
			cfg, err := discoverConfig(cmd)
			if err != nil {
				return err
			}
			if err := otherServeForDataDir(cmd, cfg.Server.DataDir); err != nil {
				return err
			}
			path := filepath.Join(cfg.Server.DataDir, "queue.db")
			if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
				// Words and exit 3, as a restore's missing backup, not
				// "stat …: no such file or directory", exit 1 (rt33c F6).
				return &exitError{code: exitNotFound, err: shownErr(fmt.Errorf("db compact: no transport database %s (queue.db in server.data_dir %s%s): nothing to compact",
					path, cfg.Server.DataDir, configOf(cfg)), path, cfg.Server.DataDir, cfg.File)}
			}
			var o queue.CompactOptions
			// The data directory replaced after the compaction's rename
			// (rt30c F3): done in the directory held, now at movedTo.
			var movedTo *string
			o.DirReplaced = func(now string) { movedTo = &now }
			if schema == 0 {
				// The copy keeps the file's version: noted from the file
				// as the compaction reads it, under its lock (ops27 3).
				o.FileSchema = func(v int) { noteSchema(cmd, path, v) }
			}
			before, after, err := queue.CompactWith(path, int64(cfg.Transport.SpoolThreshold), schema, o)
			if perr := queue.CommandPermissionError("umbra db compact", cfg.Server.DataDir, err); perr != nil {
				err = perr // run as the data directory's owner, not chown it to this user
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			compactedAs, replacedErr := path, error(nil)
			if movedTo != nil {
				compactedAs, _, replacedErr = dirReplacedAfter("compaction", cfg.Server.DataDir, *movedTo, path, "")
			}
			// Written for a rollback to a release that may predate the
			// quarantine: its records are of a format such a release
			// refuses (README, Quarantine: Downgrade).
			quarantined := 0
			if schema != 0 && schema <= queue.QuarantineSchema {
				quarantined, _ = queue.QuarantinedRecordsOf(compactedAs) // unreadable: the start says so; nothing to add here
			}
			if wantJSON(cmd) {
				out := map[string]any{"file": shown(compactedAs), "bytes_before": before, "bytes_after": after}
				if schema != 0 {
					out["schema_version"] = schema
				}
				if quarantined > 0 {
					out["quarantined_records"] = quarantined
				}
				if movedTo != nil {
					out["data_dir_replaced"] = true
				}
				if err := printJSON(cmd.OutOrStdout(), out); err != nil || replacedErr == nil {
					return err
				}
				return &exitError{code: exitFailure, err: replacedErr}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "compacted %s: %s -> %s\n", shown(compactedAs), size(before), size(after))
			if schema != 0 {
				// A rollback script tells it from a plain compaction.
				fmt.Fprintf(cmd.OutOrStdout(), "written as schema version %d, which a release of that version reads; "+
					"this release, started on it again, upgrades it at its start\n", schema)
			}
			if quarantined > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s of a format a release of schema version %d from before the "+
					"quarantine cannot read: release or delete %s (umbra queue quarantine) with this release before running such a release\n",
					plural(quarantined, "quarantined message"), pick(quarantined, "its record is", "their records are"), schema,
					pick(quarantined, "it", "them"))
			}
			if replacedErr != nil {
				return &exitError{code: exitFailure, err: replacedErr}
			}
			return nil
		},
	}
	intFlag(compact.Flags(), new(int), "schema", 0, "write the copy in the layout of schema version 4 or 3, for a rollback to a release of that version (default: the file's own version; no other value: a compaction upgrades no file, umbra serve does)")
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a backup against the checksums it carries (after copying it off the machine and back); umbra may run",
		Long: "Read every page of the backup FILE, decode every message record, and compare every record, body and table with the checksums\n" +
			"umbra db backup recorded in it, as db restore does before it replaces anything. Exit 0: the backup is as\n" +
			"it was written; 1: it is damaged (the message or table that changed is named), not a backup, carries\n" +
			"no checksums (written by an older release), or is of a schema version newer than this release knows\n" +
			"(written by a newer release: db restore refuses it). It also counts the message records and bodies that carry no\n" +
			"checksum of their own (written by an older release; a line printed only when there are some; JSON unchecked_records,\n" +
			"unchecked_bodies, always).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Lstat(args[0]); errors.Is(err, os.ErrNotExist) {
				// Words and exit 3, as restore's missing backup, not
				// "verify: stat …: no such file or directory", exit 1:
				// the exit of a damaged backup (rr34 opsrt33).
				return &exitError{code: exitNotFound, err: shownErr(fmt.Errorf("db verify: no backup file %s: nothing to verify", args[0]), args[0])}
			}
			noteOlderSchema(cmd, args[0]) // restored, it is upgraded at the next start
			server, id, err := queue.BackupOrigin(args[0])
			if errors.Is(err, queue.ErrInUse) {
				err = fmt.Errorf("verify: %w: verify checks a backup made by umbra db backup, against the checksums "+
					"it recorded; umbra db backup FILE writes one of the running server, to verify", err)
			} else if errors.Is(err, queue.ErrServerDatabase) {
				// A stopped server's queue.db: no backup checksums to
				// compare with; said so, and how to get a backup of it.
				err = fmt.Errorf("verify: %w: verify checks a backup against the checksums umbra db backup recorded in it, "+
					"which a server's own database does not carry; start umbra on it and run umbra db backup FILE, "+
					"then verify FILE (a start reads the database and sets aside any record that does not decode)", err)
			} else if err != nil {
				err = fmt.Errorf("verify: %w", err)
			} else if err = queue.VerifyBackup(args[0]); err != nil {
				switch {
				case errors.Is(err, queue.ErrNewerSchema):
					err = fmt.Errorf("verify: %w: db restore of this release refuses it", err)
				case errors.Is(err, queue.ErrNoChecksums):
					err = fmt.Errorf("verify: %s: %w (written by an umbra release that did not record them): "+
						"its pages were read, its content cannot be checked", args[0], err)
				case errors.As(err, new(*queue.RecordDamage)):
					err = fmt.Errorf("verify: the backup %s matches its checksums but is not sound: %v; "+
						"db restore restores it, and the first start sets those records aside (never delivered) and delivers the rest", args[0], err)
				default:
					err = fmt.Errorf("verify: the backup %s is damaged: %v", args[0], err)
				}
			}
			err = shownErr(err, args[0]) // file names as given, once
			// What carries no checksum of its own (an older release's
			// records and bodies): checked only against the backup's.
			var unchecked *queue.Unchecked
			if err == nil || errors.As(err, new(*queue.RecordDamage)) {
				if u, uerr := queue.UncheckedIn(args[0]); uerr == nil {
					unchecked = &u
				}
			}
			if wantJSON(cmd) {
				// The verdict on standard output too, for a script; the
				// exit code stays the verdict.
				out := map[string]any{"file": shown(args[0]), "sound": err == nil, "server": server, "database_id": id}
				if err != nil {
					out["error"] = err.Error()
				}
				if unchecked != nil {
					out["unchecked_records"], out["unchecked_bodies"] = unchecked.Records, unchecked.Bodies
				}
				if perr := printJSON(cmd.OutOrStdout(), out); perr != nil {
					return perr
				}
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if wantJSON(cmd) {
				return nil
			}
			if server == "" {
				server = "an unnamed server"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: a sound backup of %s (database id %s): every checksum matches\n", shown(args[0]), server, id)
			if unchecked != nil && unchecked.Records+unchecked.Bodies > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "without a checksum of their own: %s, %s "+
					"(written by an older release; checked here against the backup's checksums only, and read unchecked once restored)\n",
					plural(unchecked.Records, "message record"), nouns(unchecked.Bodies, "body", "bodies"))
			}
			return nil
		},
	}
	cmd.AddCommand(backup, restore, compact, verify)
	return cmd
}

// notePartials tells, on standard error, what the backup to file removed
// before its own copy (queue.SaveOptions.Stale): each partial copy a killed backup left that
// it removed, and each an older release named without its writer that
// it left alone.
func notePartials(cmd *cobra.Command, file string, st queue.StalePartials) {
	for _, p := range st.Removed {
		fmt.Fprintf(cmd.ErrOrStderr(), "backup %s: removed %s (%s), the partial copy of a backup that was killed\n",
			shown(file), shown(p.Path), size(p.Bytes))
	}
	for _, p := range st.Kept {
		fmt.Fprintf(cmd.ErrOrStderr(), "backup %s: left %s, the partial copy of an interrupted backup of an older release "+
			"(its name does not say which process writes it): remove it once no backup runs\n", shown(file), shown(p))
	}
	if st.Unlisted != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "backup %s: %s\n", shown(file), unlistedNote(filepath.Dir(file), "."+filepath.Base(file)+".partial-L…", "backup"))
	}
}

// unlistedNote says that the directory dir, which this user may not list,
// was not searched for the copies (named like pattern) that killed
// commands (what: backup, export) left in it: their names hold the
// writer's pid and a random part, so none is found without a listing
// (rt31c F3).
func unlistedNote(dir, pattern, what string) string {
	return fmt.Sprintf("the directory %s may not be listed by this user (permission denied), so a copy a killed %s left there "+
		"(%s) cannot be found, and none was removed: list it as its owner or root (ls -a %s), or give this user read "+
		"permission on it, and the next %s removes those no %s writes", shown(dir), what, shown(pattern), shown(dir), what, what)
}

// restorePermission is err of db restore, with the advice for a
// permission error in the data directory dir: run it as the directory's
// owner or as root (queue.CommandPermissionError).
func restorePermission(dir string, err error) error {
	if perr := queue.CommandPermissionError("umbra db restore", dir, err); perr != nil {
		return perr
	}
	return err
}

// restoreDirRefusal is db restore's refusal of its data directory dir
// (prepareRestoreDir's err) for the backup and --owner given: every
// name the text holds — the data directory, the backup, the owner — on
// one line (shownErr); exit 77 for an owner this user may not give
// files to.
func restoreDirRefusal(err error, dir, backup, owner string) error {
	if errors.As(err, new(errOwnerNotRoot)) {
		return &exitError{code: exitNoPerm, err: shownErr(fmt.Errorf("restore: %w", err), dir, backup, owner)}
	}
	return &exitError{code: exitFailure, err: shownErr(restorePermission(dir, fmt.Errorf("restore: %w", err)), dir, backup, owner)}
}

// lostLines lists what a restore leaves behind, one message a line: its
// id, Message-ID, sender and the recipients still to deliver.
// goneLines lists the messages a restore suspended, one a line, as
// lostLines does.
func goneLines(gone []queue.GoneSinceBackup) string {
	var b strings.Builder
	for _, m := range gone {
		fmt.Fprintf(&b, "  %s %s from <%s> to %s, received %s\n", m.ID, orDefault(shown(m.MessageID), "(no Message-ID)"),
			shown(m.From), shown(strings.Join(m.Pending, ", ")), m.Arrived.UTC().Format(time.RFC3339))
	}
	return b.String()
}

func lostLines(lost []queue.NotInBackup) string {
	var b strings.Builder
	for _, m := range lost {
		fmt.Fprintf(&b, "  %s %s from <%s> to %s, received %s", m.ID, orDefault(shown(m.MessageID), "(no Message-ID)"),
			shown(m.From), shown(strings.Join(m.Pending, ", ")), m.Arrived.UTC().Format(time.RFC3339))
		if m.Why != "" {
			fmt.Fprintf(&b, " (%s)", shown(m.Why)) // why no shadow server keeps it
		}
		b.WriteString("\n")
	}
	return b.String()
}

// otherServeForDataDir: a command given no configuration and no socket
// that reads the default data directory itself, where no database is,
// while umbra serve processes started otherwise run, names them (exit
// 69) as the socket commands do (admin: OtherServeErr) instead of
// failing on a missing file, or making a data directory nobody runs on.
func otherServeForDataDir(cmd *cobra.Command, dataDir string) error {
	return otherServeForMissing(cmd, filepath.Join(dataDir, "queue.db"))
}

// otherServeForMissing is otherServeForDataDir for any file of the
// default configuration a command reads itself: named daemons when file
// does not exist. (umbra track names them already, in the note of
// trackingConfig, before it reads the file.)
func otherServeForMissing(cmd *cobra.Command, file string) error {
	if defaultUsed(cmd) == "" {
		return nil
	}
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	c, err := adminClient(cmd)
	if err != nil {
		return nil // the command's own error says the rest
	}
	if oerr := c.OtherServeErr(); oerr != nil {
		return &exitError{code: exitUnavailable, err: oerr}
	}
	return nil
}

// databasePath is queue.db in the data directory of the configuration
// the management commands use (discoverConfig).
func databasePath(cmd *cobra.Command) (string, error) {
	cfg, err := discoverConfig(cmd)
	if err != nil {
		return "", err
	}
	return filepath.Join(cfg.Server.DataDir, "queue.db"), nil
}

// registerRetention exports the count of duplicate records (their age
// bound is the duplicate window; see the README's retention table).
func registerRetention(reg prometheus.Registerer, duplicateRecords func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_delivery_duplicate_records",
		Help: "Final deliveries remembered to suppress duplicates (pruned after the duplicate window)."},
		func() float64 { return float64(duplicateRecords()) }))
}

// shown is a file name as the CLI prints it, in text and --json, success
// and refusal lines alike: a byte that is not UTF-8 as \xNN, and the
// text \xNN with its backslash doubled (jsonsafe.TextBytes), so that two
// names read apart; and a control character (tab, newline, ESC) as its
// byte, \x09 (queue.QuoteShown, as message show names an id), so that a
// name never forges a line or moves the cursor.
func shown(name string) string { return admin.Shown(name) }

// shownError is an error of this command (not the daemon's answer, which
// comes escaped already) whose text names files as given: its text is
// written by the one rule (jsonsafe.TextBytes), which keeps the error's
// own tabs and newlines, and each name given (and each directory above
// it, which a missing directory's refusal names) by shown, its control
// characters as bytes; a part of it in the text form already (an error
// it wraps by %w: the admin client's refusal, a jsonsafe.Textf error,
// another shownError) is kept as it is (textOfBy). It unwraps to the
// error, whose kind decides the exit status.
type shownError struct {
	err   error
	names []string
}

func (e shownError) Error() string {
	// Part by part (textOfBy): a part in the text form already (the
	// admin client's refusal, a jsonsafe.Textf error) is kept as it
	// is, not escaped a second time.
	return textOfBy(e.err, func(s string) string {
		return quotedAsIsBy(s, func(p string) string { return admin.ShownText(p, e.names...) })
	})
}

func (e shownError) Unwrap() error { return e.err }

// shownErr is err with its text written by the rule (shownError), the
// file names given (names) by shown; nil stays nil.
func shownErr(err error, names ...string) error {
	if err == nil {
		return nil
	}
	return shownError{err, names}
}

// plural is "1 message", "2 messages".
func plural(n int, noun string) string { return nouns(n, noun, noun+"s") }

// nouns is n and the noun in its number: "1 copy", "2 copies" (rt33c
// F8: a count's sentence agrees with it).
func nouns(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// pick is one when n is 1, many otherwise: the words of a sentence
// about a count of n that agree with it.
func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// isAre is the verb of a count of n: "is" of one, "are" of others.
func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// noteOlderSchema says on stderr that the transport database or backup
// at path is of an older schema version, which the next start of this
// release upgrades, in the words the start logs it with
// (queue.UpgradeNote): a command that opens the file without upgrading
// it says what the start will do. Nothing for a file of this version, or
// one that cannot be read (the command reports that itself).
func noteOlderSchema(cmd *cobra.Command, path string) {
	v, err := queue.SchemaOf(path)
	if err != nil {
		return
	}
	noteSchema(cmd, path, v)
}

// noteSchema is noteOlderSchema's note for path of schema version v,
// read by the caller (under a db command's lock).
func noteSchema(cmd *cobra.Command, path string, v int) {
	if v == 0 || v >= queue.SchemaVersion {
		return
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "umbra: %s is of schema version %d; the next start of this release upgrades it to version %d: %s\n",
		shown(path), v, queue.SchemaVersion, queue.UpgradeNote(v))
}

// dirReplacedAfter is what a db command (what: "restore", "compaction")
// says when the data directory dataDir was replaced after its rename
// (rt30c F3): the command was done in the directory it held, now at
// now ("" when not known), and dataDir leads to another directory,
// whose database it did not change. It returns the database's path and
// kept's (the replaced database's second name, "" for none) in that
// directory, and the error the command exits with.
func dirReplacedAfter(what, dataDir, now, path, kept string) (at, keptAt string, err error) {
	where := "a place the system does not tell"
	at = "the database of the data directory as the " + what + " held it"
	if now != "" {
		where = now
		at = filepath.Join(now, filepath.Base(path))
		if kept != "" {
			kept = filepath.Join(now, filepath.Base(kept))
		}
	}
	// Its values are shown already: in the text form (jsonsafe.Textf),
	// not escaped a second time.
	return at, kept, jsonsafe.Textf("the data directory %s was replaced while the %s ran (moved, and a link or another directory "+
		"put at its name): the %s was done in the directory as it held it, now at %s; %s now leads elsewhere, to a "+
		"database the %s did not change, which umbra serve would open. Put the directory back at its name before "+
		"starting umbra", shown(dataDir), what, what, shown(where), shown(dataDir), what)
}

// configOf names the file cfg was read from, for a refusal that names
// one of its settings ("" for the embedded default).
func configOf(cfg *config.Config) string {
	if cfg.File == "" {
		return " of the embedded default configuration"
	}
	return " of " + cfg.File
}

// fromPickupFiles takes out of lost the messages of the pickup
// directory dir whose NAME.<id>.queued file is still there: a start on
// the restored database, which lacks them, gives each file back as
// NAME.restored-ID.eml and submits it again (package pickup), so they
// are not left behind. It returns the others and how many it took out.
// A file that cannot be looked at (no pickup directory, an unreadable
// one) leaves its message counted as left behind.
func fromPickupFiles(lost []queue.NotInBackup, dir string) ([]queue.NotInBackup, int) {
	if dir == "" {
		return lost, 0
	}
	var rest []queue.NotInBackup
	n := 0
	for _, m := range lost {
		if m.PickupFile != "" && filepath.Base(m.PickupFile) == m.PickupFile {
			if fi, err := os.Lstat(filepath.Join(dir, queue.PickupQueuedName(m.PickupFile, m.ID))); err == nil && fi.Mode().IsRegular() {
				n++
				continue
			}
		}
		rest = append(rest, m)
	}
	return rest, n
}

// fromFileNote is what the refusal of db restore adds of the messages
// beyond the backup that come back from their pickup file.
func fromFileNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s beyond the backup %s back from %s in the pickup directory and %s not among them)",
		plural(n, "more message"), pick(n, "comes", "come"), pick(n, "its file", "their files"), isAre(n))
}
