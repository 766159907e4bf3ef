package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"umbra/internal/httprefusal"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"umbra/internal/admin"
	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/console"
	"umbra/internal/delivery"
	"umbra/internal/dumpster"
	"umbra/internal/jsonsafe"
	"umbra/internal/ldapdir"
	"umbra/internal/leftover"
	"umbra/internal/mailbox"
	"umbra/internal/metrics"
	"umbra/internal/pickup"
	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/routing"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
	"umbra/internal/signing"
	"umbra/internal/smtp"
	"umbra/internal/systemd"
	"umbra/internal/topology"
	"umbra/internal/tracking"
)

// drainTimeout bounds how long SIGTERM waits for sessions in a mail
// transaction and for delivery attempts to finish.
const drainTimeout = 30 * time.Second

// shadowCloseTimeout bounds the drain's last step: the shadow sessions'
// last replies (their discards) are written, then they close.
const shadowCloseTimeout = 5 * time.Second

// holdersFirstAsk bounds the start's question to the servers keeping
// copies of this server's messages (shadow.Holders.AskFirst), asked
// before the queue starts: a holder that hangs delays the first
// delivery by that much, no more.
const holdersFirstAsk = 3 * time.Second

// askHolders is the round of questions to the holders before deliveries
// (re)start: at the start (first: its probes stand for the first pass's),
// and after a stall (queue.Manager.GuardStall: the next pass probes
// every holder). A holder slower than holdersFirstAsk is not marked
// unanswering for it (the bound is the caller's, delivery recopy.go).
func askHolders(ctx context.Context, holders *shadow.Holders, first bool) {
	actx, cancel := context.WithTimeout(ctx, holdersFirstAsk)
	defer cancel()
	if first {
		holders.AskFirst(actx)
		return
	}
	holders.Ask(actx)
}

// stallAfter is the shortest stall of this process after which a shadow
// server may have taken its copies over. The takeover follows the
// holder's settings, not this server's: shadow_heartbeat_timeout and
// shadow_heartbeat_retry_count are each server's own and reloadable,
// and a holder reloaded to a shorter bound than this server's took its
// copies over after a stall this server's own bound
// (timeout × (retries − 1)) let pass unasked; it then delivered them a
// second time (rt39 F2). So the bound is the shortest any holder can be
// configured to — one heartbeat that fails, its command timeout of 1 s
// at the least — which the guard notices, reading the clock every
// quarter of it (queue stallguard.go, tick): after any longer stall the
// holders are asked, whatever the settings on either side.
func stallAfter() time.Duration {
	return time.Second
}

// httpStopTimeout bounds, in all, the stop of the HTTP servers left
// after the drain (the admin API, the console, the MTA-STS policy):
// their requests still open then are cut when it ends. A request whose
// body never arrives (the admin API reads without a deadline) held the
// stop for ever (rt16c F1).
const httpStopTimeout = time.Second

// lateDeadline is a context whose deadline, d ahead, is set at its first
// use: the HTTP servers' stops share one (httpStopTimeout) although
// each is deferred apart.
type lateDeadline struct {
	once   sync.Once
	d      time.Duration
	ctx    context.Context
	cancel context.CancelFunc // the process ends first
}

func (l *lateDeadline) get() context.Context {
	l.once.Do(func() {
		l.ctx, l.cancel = context.WithTimeout(context.Background(), l.d)
	})
	return l.ctx
}

// stopHTTP shuts srv down until ctx ends, then closes what is left.
func stopHTTP(ctx context.Context, srv *http.Server) {
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
}

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the umbra daemon (the embedded default configuration without --config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hup := serveHUP
			if hup == nil { // serve not named in os.Args (a test's own command tree)
				hup = make(chan os.Signal, 1)
				signal.Notify(hup, syscall.SIGHUP)
			}
			defer signal.Stop(hup)
			// Starting from now, not "not running", for the management
			// commands, until the transport database is locked
			// (startmark.go): the checks below take a while.
			mark := markStarting(cmd)
			defer mark.close()
			cfg, err := loadConfig(cmd)
			if err != nil {
				if isConfigError(err) { // its file name and values as config check shows them (configText)
					err = configShown(configText(err.Error(), configErrorFiles(err)...))
				}
				return &exitError{code: exitConfig, err: err}
			}
			mark.moveTo(cfg.Server.AdminSocket)
			holdForTest("UMBRA_TEST_HOLD_START")
			// Everything config check checks, before the data directory
			// is touched: a refused configuration leaves no database.
			if f := withStartDirs(cfg, checkConfig(cfg)); f != nil { // the directories too, as config check says them (dirsready.go)
				// An address another process holds is refused with the
				// rest, not only by a second start.
				if err := probeInUse(cfg); err != nil {
					f.detail = append(f.detail, strings.Split(err.Error(), "\n")...)
					f.summary += "; it listens on an address in use"
				}
				// The summary names the file as config check does
				// (shown: a newline of its name splits no line).
				return &exitError{code: exitConfig, err: configShown(configText(f.Error(), cfg.File) + "\n" +
					orDefault(shown(cfg.File), "the configuration") + configText(f.summary))}
			}
			ctx, stop := notifyStop(withStartMark(context.Background(), mark))
			defer stop()
			if err := serve(ctx, cfg, stop, hup); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	return cmd
}

// serveHUP is notified of SIGHUP from the process's first moment when
// it runs umbra serve: the signal's default ends the process, and a
// reload asked during the start (configuration management, a logrotate
// file copied from an earlier release with its postrotate; the walk of
// a large queue.db takes a while) must not stop the server. One asked before "umbra ready" waits in it and is done
// after. Other commands keep the default (a terminal's hangup ends them).
// Before this init, the cgo constructor of earlyhup_cgo.go keeps SIGHUP
// ignored from the moment it runs, once the dynamic loader is done
// (rt24c F4; the milliseconds before it are earlyhup_cgo.go's).
var serveHUP chan os.Signal

func init() {
	for _, a := range os.Args[1:] {
		if a == "serve" {
			serveHUP = make(chan os.Signal, 1)
			signal.Notify(serveHUP, syscall.SIGHUP)
			return
		}
	}
}

func newLogger(cfg config.Server) *slog.Logger { return newLoggerTo(cfg, os.Stderr) }

// newLoggerTo is newLogger writing to w.
func newLoggerTo(cfg config.Server, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		opts.ReplaceAttr = jsonLogAttr
		return slog.New(slog.NewJSONHandler(escapingWriter{w}, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve is the composition root: it builds every part from the
// configuration, runs them until ctx ends, and drains them in order.
func serve(ctx context.Context, cfg *config.Config, stopSignals func(), hup chan os.Signal) error {
	httpStop := &lateDeadline{d: httpStopTimeout} // the HTTP servers' stops, deferred
	log := newLogger(cfg.Server)
	// The addresses serve listens on are free and this host's before the
	// data directory is touched (listeners.go).
	if err := probeListeners(cfg); err != nil {
		return err
	}
	// The Maildir tree's root before the data directory: a refused one
	// outside it leaves no data directory behind (one inside it is made
	// with it, as the data directory is made).
	// One inside the data directory waits for the database's open: a
	// data directory of another user is said as such (chown), not as a
	// Maildir this user may not write.
	// The same for the pickup directory and the tracking log's.
	if err := dirsReady(cfg, false); err != nil { // dirsready.go
		return err
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o750); err != nil {
		return shownErr(reachError("data directory", cfg.Server.DataDir, err), cfg.Server.DataDir) // pathreach.go
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gd := newGuard(reg, log.With("component", "helpers")) // helperpanic.go: the helper goroutines' panics
	gcFloor(ctx, gd)                                      // gcfloor.go
	met := metrics.New(reg)
	ops := met.RegisterOps(reg, version)
	knownConnectors, knownDatabases := metricsNames(cfg)
	met.Known(knownConnectors, knownDatabases)

	// The space reserve is made by the open, before its own commit,
	// which a database with mail on a full disk makes with it
	// (queue/spacereserve.go).
	reserve := int64(cfg.Transport.SpaceReserve)
	store, err := queue.Open(filepath.Join(cfg.Server.DataDir, "queue.db"), queue.Options{Observer: met,
		DeferLimit: cfg.Transport.ResultCommitDelay.D(), HeldBy: waitForHolder(ctx, log, filepath.Join(cfg.Server.DataDir, "queue.db")),
		SpaceReserve: &reserve, SpaceReserveLog: log.With("component", "spacereserve")})
	if err != nil {
		return shownErr(err, cfg.Server.DataDir) // data_dir on one line; HeldBy's shownError kept as it is (textOfBy)
	}
	defer store.Close()
	if err := dirsReady(cfg, true); err != nil { // inside the data directory
		return err
	}
	defer holdForTest("UMBRA_TEST_HOLD_STOP") // the moment before the close, after every other stop (startmark.go)
	databaseLocked(ctx)                       // its lock tells a starting daemon from now on (startmark.go)
	var mgr *queue.Manager                    // set before the metrics and admin listeners start
	metrics.RegisterQueues(reg, func() ([]queue.QueueStats, error) {
		// A first attempt's backlog counted behind its destination, as
		// queue list counts it; before the manager exists, none runs.
		return store.QueueStats(mgr)
	}, func() []string {
		if mgr == nil { // a scrape before the manager exists
			return nil
		}
		return mgr.SuspendedQueues()
	})
	registerRetention(reg, store.DuplicateRecords)
	store.SetSpoolLogger(log.With("component", "spool"))
	registerSpoolMetrics(reg, store)
	if err := store.SetServer(cfg.Server.Name); err != nil { // backups record whose database they are
		return fmt.Errorf("transport database: %w", err)
	}
	log.Info("transport database open", "path", filepath.Join(cfg.Server.DataDir, "queue.db"), "database_id", store.DatabaseID())
	if from := store.RestoredFrom(); from != "" {
		log.Warn("transport database restored from a backup: it presents a new database id, so that a server keeping a shadow copy of mail accepted after the backup resubmits it; "+
			"mail accepted after the backup that no shadow server kept is not resubmitted (db restore listed it, and left it in the replaced file only with --discard-newer)",
			"database_id", store.DatabaseID(), "backup_of", from)
	}
	if n := store.RestoredSuspended(); n > 0 {
		log.Warn("messages of the restored backup that the replaced database had finished (delivered, relayed, removed, bounced or expired after the backup) are suspended: "+
			"umbra message resume ID sends one again, umbra message remove ID drops it", "messages", n)
	}
	// A start that upgraded the schema says so once: a release of the
	// old version refuses the file from now on (README, Upgrades and
	// rollback). The line is the store's (queue.Store.LogUpgrade), logged
	// here after the open line, in the words of every opener.
	store.LogUpgrade(log)
	// Every file the start deleted, one line each with why (rt32c F1:
	// a killed backup's snapshot went without a word): the names of
	// the one list the commands refuse to write (leftover.Beside), and
	// second names of the live database a restore left.
	for _, left := range store.Leftovers() { // restorespool.go, lifecycle.go
		why := "a second name of the live database (queue.db.replaced-TIME) an interrupted db restore left, not a copy of an older one"
		if n, ok := leftover.Of(filepath.Join(cfg.Server.DataDir, "queue.db"), filepath.Base(left)); ok {
			why = n.Why
		}
		log.Warn("removed a leftover beside the transport database (the database itself was not replaced)", "path", left, "why", why)
	}
	if n := store.SpoolSwept(); n > 0 { // queue/spoolref.go
		log.Info("removed spool files no message names: bodies of sessions that ended before their commit (never acknowledged), or bodies whose message had left before a crash cut their removal",
			"files", n, "dir", filepath.Join(cfg.Server.DataDir, leftover.SpoolDir))
	}
	if gone := store.SpoolOfGoneDatabase(); gone.Dir != "" { // queue/spoolref.go (lifert39 F2)
		log.Warn("a new transport database started beside the spool files of a database that is gone (queue.db was missing): "+
			"they were moved aside, and the mail they held is not queued here; its shadow servers resubmit what they kept a copy of (a new database id)",
			"spool_files", gone.Files, "moved_to", gone.Dir)
	}
	for _, done := range store.RestoreFinished() { // restorespool.go (rt28c F4)
		log.Warn("finished an umbra db restore that was interrupted after it replaced the database", "step", done)
	}
	// Damaged message records: set aside by the open, the rest of the
	// queue delivered (queue/damaged.go); one line each, at most
	// damagedLogged of them, then how many more.
	if dmg := store.DamagedAtOpen(); len(dmg) > 0 {
		for i, d := range dmg {
			if i == damagedLogged {
				log.Error("more damaged message records set aside: umbra message list --queue damaged lists them all", "more", len(dmg)-i)
				break
			}
			log.Error(d.LogText(), // queue/damaged.go: the copy's holder it is given to, or export and remove
				"msg_id", d.ID.String(), "err", d.Why, "bytes", len(d.Raw))
		}
	}
	if miss := store.MissingSpool(); len(miss) > 0 { // queue/spoolcheck.go: held as poison when the queue starts, never sent truncated
		log.Error("spool files the transport database names are missing (was the data directory copied without spool/?): messages waiting for delivery that name them are moved to the poison queue when the queue starts (logged with their ids); dumpster copies are skipped by redelivery",
			"missing", len(miss), "first", miss[0])
	}

	var events queue.Events = eventLog{log: log.With("component", "queue"), next: met, out: os.Stderr,
		batchLog: func(w io.Writer) *slog.Logger { return newLoggerTo(cfg.Server, w).With("component", "queue") },
		lines:    &sync.Pool{}}
	learner := newCalloutLearner() // a 5.1.x at delivery corrects the callout cache
	events = fanout{events, learner}
	var tracker admin.Tracker
	var trackLog *tracking.Log // reopened on SIGHUP (an outside rotation is followed without one)
	if cfg.Tracking.Enabled {
		// Its directory is made as data_dir is (config check refused a
		// file or a dead link on the way).
		if err := os.MkdirAll(filepath.Dir(cfg.Tracking.Path), 0o750); err != nil {
			return fmt.Errorf("tracking log: %w", shownErr(reachError("directory", filepath.Dir(cfg.Tracking.Path), err), cfg.Tracking.Path))
		}
		tl, err := tracking.Open(cfg.Tracking.Path, int64(cfg.Tracking.MaxSize), cfg.Tracking.MaxFiles)
		if perr := queue.StartPermissionError("tracking log (tracking.path)", cfg.Tracking.Path, err); perr != nil {
			return perr // ownership.go: the one wording of a start's permission refusal (lifert43 F1)
		}
		if err != nil {
			return fmt.Errorf("tracking log: %w", err)
		}
		defer tl.Close()
		tl.Register(reg)
		tl.SetLogger(log) // events lost to failed writes: counted, logged at a bounded rate
		tl.SetMaxAge(cfg.Tracking.MaxAge.D())
		events, tracker, trackLog = fanout{events, tl}, tl, tl
	}
	// The console's map shows each server's last delivery result.
	var consoleHealth *console.Health
	if cfg.Console.Listen != "" {
		consoleHealth = console.NewHealth(nil)
		events = fanout{events, consoleHealth}
	}

	table := topology.RoutingTable(cfg)
	t := cfg.Transport
	// The one resolver of every lookup (delivery, connection filtering,
	// the directory's and the milters' host names).
	dnsResolver, err := newResolver(cfg.DNS, reg)
	if err != nil {
		return err
	}
	dnsResolver.SetLogger(log.With("component", "dns")) // a lookup's recovered panic
	dir, err := newDirectory(cfg, reg, dnsResolver)     // the LDAP directory (ldap.go), or nil
	if err != nil {
		return err
	}
	if dir != nil {
		defer dir.Close()
		dir.SetLogger(log.With("component", "ldap")) // a search's recovered panic
	}
	topo, ctopo, err := serverTopologies(cfg) // the file read once: routing's snapshot and its lines for warnings
	if err != nil {
		return err
	}
	if ctopo != nil {
		cfg.TopologySource = ctopo.Source // what route explain explains (admin GET /v1/config)
	}
	topo = withDirectoryDatabases(topo, cfg, dir)
	suspended := func(name string) bool { return mgr.IsSuspended(name) }
	// The state the deliverer and the scheduler share is built first and
	// given to both at construction: the record of final deliveries in
	// flight, and the recorder of what sessions with primaries learn.
	// The recorder's store is the queue manager (its commits wake
	// waiting senders): the one report path from delivery back to the
	// queue, closed through the variable set below before anything runs.
	claims := queue.NewFinalClaims(store)
	var shadowRec *shadow.Recorder
	var _ delivery.RefusalRecorder = shadowRec // the deliverer finds it by this interface: kept in step
	// Built whatever the switch says: shadow_redundancy_enabled false
	// stops new copies only (the receive side refuses XSHADOW, no copy
	// is pushed), while the copies held here from before are watched —
	// heartbeats, discards, takeover — until they are settled (sites49
	// F1: a holder restarted with the switch off ran no heartbeat, and
	// its copies outlived their dead primary undelivered).
	shadowRec = shadow.NewRecorder(shadowstore.Store{M: &mgr}, met, log.With("component", "shadow"))
	dc, err := deliveryConfig(cfg, table, topo, suspended, shadowRec, log)
	if err != nil {
		return err
	}
	dc.Resolver = dnsResolver
	resolveServerHosts(topo, nil, dnsResolver, log, gd) // before the topology is shared: the servers listed by host name
	// What config check warns of in this file, logged once here and at
	// each reload that changes it (configwarnings.go).
	warned := &warnedConfig{}
	warned.log(log, configWarnings(context.Background(), cfg, ctopo, topo, noDNS{}))
	// The scheduler's record of unanswering servers, shared with delivery.
	health := queue.NewHealth()
	dc.Health = health
	tlsEngine, tlsReports, err := outboundTLS(cfg, dnsResolver, store, reg, log, reportSubmitter(&mgr, cfg.Server.Name))
	if err != nil {
		return err
	}
	dc.TLSPolicy = tlsEngine
	stsLive, stsPub, err := publishMTASTS(cfg, log.With("component", "tlspolicy"))
	if err != nil {
		return err
	}
	if stsPub != nil {
		defer func() { stopHTTP(httpStop.get(), stsPub) }()
	}
	dc.Dedup = claims
	del, err := delivery.New(dc)
	if err != nil {
		return err
	}
	del.SetDatabaseID(store.DatabaseID())
	defer del.Close()
	if cfg.Mailbox.Maildir != "" {
		mergeLegacyMaildirs(cfg.Mailbox.Maildir, log.With("component", "mailbox"))
	}
	del.SetOutbound(metrics.RegisterOutbound(reg)) // outbound sessions by TLS outcome, at zero from the start
	del.SetSigning(metrics.RegisterSigning(reg))   // DKIM signatures and ARC sets on mail leaving
	del.SetPanics(met)                             // recovered panics of outbound work (umbra_delivery_panics_total)

	dump := dumpster.New(store, dumpsterConfig(cfg), dumpster.Options{Log: log.With("component", "dumpster"),
		Observer: met, Events: events})
	metrics.RegisterDumpster(reg, func() (st map[string]queue.DumpsterStat, err error) {
		err = store.View(func(tx *queue.Tx) error { st = tx.DumpsterStats(); return nil })
		return st, err
	}, knownDatabases...)
	metrics.RegisterDamagedRequests(reg, dump.DamagedRequestCount)
	pol := policy(cfg)
	mgr = queue.NewManager(store, del, queue.ManagerConfig{
		Hostname: cfg.Server.Name, RetrySchedule: pol.RetrySchedule, RetryJitter: pol.RetryJitter,
		MessageExpiration: pol.MessageExpiration, DelayNotification: pol.DelayNotification, Inside: pol.Inside,
		MaxActive: t.MaxActive, PoisonThreshold: t.PoisonThreshold,
		Log: log.With("component", "queue"), Events: events, DiscardsSent: met.DiscardsSent, Takeovers: met.Takeover,
		Dumpster: dump, DuplicateWindow: duplicateWindow(cfg),
		BounceSizeLimit: int64(t.BounceSizeLimit),
		Health:          health, Claims: claims,
		Scheduler: queue.SchedulerConfig{InitialWindow: t.InitialDestinationConcurrency,
			MaxWindow: t.MaxConnectionsPerDestination, DeadCoolDown: t.DeadDestinationCoolDown.D()},
		QuarantineExpiration: t.Quarantine.Expiration.D(), QuarantineDSN: t.Quarantine.DSNOnExpiry,
		Panics: met, // recovered panics of the queue's goroutines (umbra_queue_panics_total)
		// A pickup message's recorded end is kept while its .queued
		// file is there (pickup.QueuedFileGone); without a pickup
		// directory every end is kept.
		PickupFileGone: pickupFileGone(cfg.Pickup.Directory),
		// A pickup submission's key is kept while its file, unmarked,
		// lingers there (pickup.KeyFileGone): never submitted twice.
		PickupKeyGone: pickupKeyGone(cfg.Pickup.Directory),
	})
	metrics.RegisterScheduler(reg, mgr.Destinations)
	metrics.RegisterExpiredKept(reg, mgr.ExpiredKeptCopies) // 0 on a server that keeps no shadow copy
	registerQuarantine(reg, mgr.QuarantineStats)
	mgr.SetQuarantineBound(int64(t.Quarantine.MaxSize), t.Quarantine.MaxMessages)
	registerQuarantineFull(reg, mgr.QuarantineRefused)
	// The shadow manager decides, from the stored state of the primaries
	// this server keeps copies for, which heartbeats and watch sessions
	// are due; the scheduler steps it and runs them in each primary's
	// destination window; the deliverer speaks SMTP for them.
	var shadows *shadow.Manager
	var clients []queue.Client
	if shadowRec != nil {
		shadows = shadow.New(shadow.Config{Timeout: cfg.Transport.ShadowHeartbeatTimeout.D(),
			Retries: cfg.Transport.ShadowHeartbeatRetryCount, CommandTimeout: cfg.Transport.CommandTimeout.D(),
			Log: log.With("component", "shadow"), Store: shadowstore.Store{M: &mgr}, Observer: met,
			Heartbeater: del, Recorder: shadowRec, Runner: mgr})
		clients = append(clients, shadows)
		// The expiry pass asks the shadow view which primaries answer
		// and refuse this server: their expired copies are theirs to
		// expire, not taken over (shadow31 S3).
		mgr.SetExpiryKeeper(shadows.KeepExpiredCopies)
		// Delivery's health record is memory: rebuild it from the stored
		// shadow state, so a primary that was failing before the restart
		// is not tried first until its next heartbeat (SR-16).
		if peers, err := mgr.ShadowPeers(); err == nil {
			for _, p := range peers {
				if p.Failures > 0 || p.TakenOver {
					del.MarkUnresponsive(p.Primary, p.Addr, p.LastTry)
				}
			}
		}
	}
	forgetGone := func(c *config.Config) { // healthprune.go
		var peers []queue.ShadowPeer
		if shadows != nil {
			var err error
			if peers, err = mgr.ShadowPeers(); err != nil {
				return // which primaries hold copies is not known: keep every mark
			}
		}
		forgetGoneServers(c, health, peers, log.With("component", "queue"))
	}
	forgetGone(cfg)
	recovered, poisoned, err := mgr.Recover(ctx)
	if errors.Is(err, queue.ErrRecoveryWaits) {
		// A full disk: start all the same, refusing new mail as a full
		// disk makes a running server refuse it and delivering what is
		// held; the queue tries the recovery again (recoverlater.go).
		// Said as it was (rt47): after a clean stop nothing was in
		// delivery, and only the recovery's other work waits.
		var rw *queue.RecoveryWaitsError
		if errors.As(err, &rw) && rw.InDelivery == 0 {
			log.Warn("the disk is full: starting without the start's recovery commit (no message was in delivery at the last stop); "+
				"new mail is refused until there is room, the queue is delivered, and the commit is tried again every few seconds",
				"err", err)
		} else {
			log.Warn("the disk is full: starting without recovering the messages in delivery at the last stop; "+
				"new mail is refused until there is room, the queue is delivered, and the recovery is tried again every few seconds",
				"err", err)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("recovering the queue: %w", err)
	}
	if recovered+poisoned > 0 {
		log.Warn("recovered messages that were in flight at the last stop", "recovered", recovered, "poisoned", poisoned)
	}

	adm, err := admin.Listen(cfg.Server.AdminSocket, mgr, tracker, admin.Status{Server: cfg.Server.Name, Role: cfg.Server.Role,
		Version: version, DatabaseID: store.DatabaseID(), Started: time.Now(),
		ConfigFile: absPath(cfg.File), TrackingPath: trackingPathOf(cfg), TrackingMaxFiles: cfg.Tracking.MaxFiles}, log.With("component", "admin"))
	if err != nil {
		if blocked := blockedError("directory", filepath.Dir(cfg.Server.AdminSocket), err); blocked != nil {
			return fmt.Errorf("admin socket: %w", shownErr(blocked, cfg.Server.AdminSocket)) // a parent it cannot pass through (pathreach.go)
		}
		return err
	}
	if shadows != nil {
		adm.SetShadows(shadows.Status)
		adm.SetServerKnown(func(name string) bool { // shadow list marks a primary a reload dropped
			t := del.RunningConfig().Topology
			if t == nil {
				return true
			}
			_, ok := t.Server(name)
			return ok
		})
		metrics.RegisterShadowStates(reg, func() ([]metrics.PrimaryState, error) {
			vs, err := adm.ShadowViews() // the view shadow list shows
			out := make([]metrics.PrimaryState, 0, len(vs))
			for _, v := range vs {
				out = append(out, metrics.PrimaryState{Primary: v.Primary, State: v.State, FailedHeartbeats: v.FailedHeartbeats,
					Copies: v.Copies, TakenOverCopies: v.TakenOverCopies})
			}
			return out, err
		})
	}
	adm.SetDumpster(dump)
	adm.SetClaimTrouble(func() string { // queue/claimtrouble.go: listings say why due mail stays
		if c, ok := mgr.ClaimTrouble(); ok {
			return c.Text()
		}
		return ""
	})
	adm.SetDatabase(heldBackups{store})
	var liveRcpt atomic.Pointer[recipients.Validator] // the recipient validator in force (start, reload)
	var cfgMu sync.Mutex                              // cfg changes on reload
	current := func() *config.Config { cfgMu.Lock(); defer cfgMu.Unlock(); return cfg }
	if tlsEngine != nil {
		adm.SetTLSPolicy(func(ctx context.Context, domain string) any {
			connTLS, port, limit := del.ExplainConnector(domain)              // the connector delivery takes, under a topology too
			return tlsEngine.ExplainUpTo(ctx, domain, connTLS, port, 2*limit) // what one attempt looks up (delivery/mxlookup.go)
		})
	}
	adm.SetSelfCheck(func(ctx context.Context, connector, domain string) any { return del.CheckSelf(ctx, connector, domain) })
	adm.SetSelfCheckHosts(func(ctx context.Context, connector string, smartHosts []string, domain string) any {
		return del.CheckSelfHosts(ctx, connector, smartHosts, domain)
	})
	adm.SetLoadedConfig(func() admin.LoadedConfig {
		c := current()
		srv := c.Server // in force: a reload keeps the running section (keepRunning)
		return admin.LoadedConfig{File: absPath(c.File), Config: string(c.Source), TopologyFile: absPath(c.Topology), Topology: string(c.TopologySource), Server: &srv}
	})
	adm.SetRedirectCheck(del.RedirectSelf)
	// config check's dry run of a reload against what runs now.
	adm.SetReloadCheck(func(file string) []string { return reloadRefusals(current(), file) })
	// The last reload's state, for the status the CLI and the console's
	// header show (the metrics say it as umbra_config_last_reload_successful
	// and umbra_config_restart_would_fail).
	var reloadMu sync.Mutex
	reloadState := admin.ReloadState{Result: "none"}
	adm.SetReload(func() admin.ReloadState {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		r := reloadState
		r.Pending = slices.Clone(r.Pending)
		return r
	})
	// route explain's recipients: RCPT's answer by the lists and the
	// directory this daemon loaded (no callout made), and the mailbox
	// databases its directory assigns — not the files as they read now.
	adm.SetRecipientCheck(func(ctx context.Context, addrs []string) any {
		v := liveRcpt.Load()
		if v == nil {
			return []rcptCheck{} // not before the validator is made (the socket answers a moment before)
		}
		return checkAddresses(ctx, v.WithoutCallout(), topology.RoutingTable(current()), addrs)
	})
	if dir != nil && cfg.LDAP.DatabaseAttribute != "" { // the ldap section applies at a restart: as withDirectoryDatabases
		adm.SetMailboxDatabase(dir.MailboxDatabase)
	}
	if tlsReports != nil {
		adm.SetTLSReports(tlsReportsAPI{tlsReports})
	}
	adm.SetQueueNames(queueNameChecker(current))
	go adm.Serve()
	defer func() { adm.Shutdown(httpStop.get()) }()
	con, err := startConsole(cfg, adm, shadows, consoleHealth, log.With("component", "console"), current)
	if err != nil {
		return err
	}
	if con != nil {
		defer func() { con.Shutdown(httpStop.get()) }()
		log.Info("web console listening", "addr", "https://"+con.Addr().String()+"/")
	}

	// Recipient validation at RCPT (SMTP-6): the directory lists and the
	// callout, whose answers the transport database keeps.
	// The callout keeps an answer per mailbox as RCPT compares them
	// (smtp.Server.RcptKey: the receive side's current accepted
	// domains; the start's table until the server is made).
	var front atomic.Pointer[smtp.Server]
	callout := newCallout(cfg, del, store, func(a string) string {
		if s := front.Load(); s != nil {
			return s.RcptKey(a)
		}
		return smtp.RcptKeyIn(table, a)
	})
	rcptv, err := recipientValidator(cfg, callout, ldapRecipients(dir), log.With("component", "recipients"))
	edge := newEdgeChecks(cfg, log.With("component", "checks"), reg, clock.Real{})
	edge.guard = gd
	defer persistRates(store, edge.rates, log.With("component", "ratelimit"), gd)() // saved before the store closes
	edge.cf = newConnFiltering(dnsResolver, reg, clock.Real{}, log.With("component", "checks"))
	edge.cf.reloaded(cfg)  // the lists in force: one the first reload removes is retired (Limiter.KeepLists)
	edge.dns = dnsResolver // message authentication's SPF, DKIM, DMARC and ARC lookups
	if err != nil {
		return err
	}
	del.SetRecipients(rcptv)
	liveRcpt.Store(rcptv)
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: cfg.Server.Name, Connectors: cfg.ReceiveConnectors,
		Routing: table, Queue: mgr, Log: log.With("component", "smtp"), Observer: met,
		Shadow: mgr, ShadowEnabled: cfg.Transport.ShadowRedundancyEnabled,
		AuthThrottle: cfg.AuthThrottle, Postmaster: cfg.Server.Postmaster, MaxHopCount: cfg.Transport.MaxHopCount,
		Recipients: rcptv, Accounts: accountSource(dir), Checks: edge.build, AuthservIDs: frontDoorIDs(cfg),
		// Large bodies stream to spool files beside the database (issue 15).
		Spool: store.NewSpool, SpoolThreshold: int64(cfg.Transport.SpoolThreshold), MaxHeaderSize: int(cfg.Transport.MaxHeaderSize),
		BodyMemoryLimit: int64(cfg.Transport.BodyMemoryLimit)})
	if err != nil {
		return err
	}
	front.Store(srv)
	registerBodyMemoryMetrics(reg, srv)
	// A server a reload dropped from the topology is let in, by the
	// record of what is held of it here, for its own copies' verbs.
	srv.SetHeldServers(heldServers{mgr})
	if topo != nil {
		srv.SetServers(topo) // server ids of shadow sessions are bound to the topology
		mgr.SetServers(topo) // and copies kept under a connector's host name to the server they reached
	}
	if shadowRec != nil {
		// shadow list shows no server the topology in force (reloads
		// included) no longer lists as refused.
		shadowRec.SetServerKnown(func(name string) bool {
			t := del.RunningConfig().Topology
			if t == nil {
				return true
			}
			_, ok := t.Server(name)
			return ok
		})
	}
	var holders *shadow.Holders
	if shadows != nil && cfg.Transport.ShadowRedundancyEnabled {
		// Shadow on receipt (SR-17): copies pushed to other transport
		// servers of the topology before the 250.
		rs := delivery.NewReceiptShadow(del, store.DatabaseID()).WithHolders(mgr)
		defer rs.Close()
		srv.SetReceiptShadow(rs)
		srv.SetPeerHealth(health) // a shadow session another server completes here clears its marks
		if shadowRec != nil {
			// A session let in presenting its own database id ends the
			// shadow view's refusal of its contacts, as it clears its
			// destination mark (rt28e F3).
			srv.SetRefusalEnder(shadowRec)
			// shadow list lists the holders whose sessions are refused
			// here, as queue destinations does (rt29a F2).
			shadowRec.SetHolderRefusals(func() []shadow.HolderRefusal {
				var out []shadow.HolderRefusal
				for _, h := range rs.RefusedHolders() {
					out = append(out, shadow.HolderRefusal{Server: h.Server, Since: h.Since, LastRefused: h.LastRefused, Why: h.Why})
				}
				return out
			})
		}
		// The servers that keep copies of this server's messages are
		// probed; a new database id there makes the lost copies again.
		copier := delivery.Holders{R: rs, Q: mgr, Pref: func(connector string) string {
			for _, rc := range current().ReceiveConnectors {
				if rc.Name == connector {
					return rc.ShadowOnReceipt
				}
			}
			return ""
		}}
		holders = shadow.NewHolders(shadow.HoldersConfig{
			Every: func() time.Duration { return current().Transport.ShadowHeartbeatTimeout.D() },
			// A holder unreachable for the takeover bound lost its
			// copies (as a primary is taken over after it, SR-6).
			LostAfter: func() time.Duration {
				t := current().Transport
				return t.ShadowHeartbeatTimeout.D() * time.Duration(max(t.ShadowHeartbeatRetryCount, 1))
			},
			Store: shadowstore.Store{M: &mgr}, Copier: copier,
			Log: log.With("component", "shadow")})
		// A database restored from a backup takes over no copy held for
		// another primary before every transport server told which
		// copies of the database it was restored from it holds, or the
		// takeover bound passed (queue restoredhanded.go).
		{
			t := current().Transport
			mgr.SetRestoredAskBound(t.ShadowHeartbeatTimeout.D()*time.Duration(max(t.ShadowHeartbeatRetryCount, 1)), copier.RestoredServers())
			mgr.SetPushAskBound(t.ShadowHeartbeatTimeout.D() * time.Duration(max(t.ShadowHeartbeatRetryCount, 1)))
		}
		// shadow single and message show name the holders no probe
		// reached since the start (rt30a F2).
		adm.SetHoldersUnreached(holders.Unreached)
		metrics.RegisterSingleCopies(reg, mgr.HeldOnlyCount)
		metrics.RegisterUnconfirmedCopies(reg, mgr.UnconfirmedCopyCount)
		metrics.RegisterDamagedPeers(reg, mgr.DamagedPeerCount)
		metrics.RegisterRetiredDatabaseIDs(reg, mgr.RetiredDatabaseIDCount)
		// Mail entering the queue with no copy elsewhere (a dumpster
		// redelivery, a pickup file, a DSN or report written here) is
		// marked held by this server only, and this pass copies it.
		store.SetShadowCopies(topo != nil)
		metrics.RegisterRollbacks(reg, mgr.RolledBack)
		metrics.RegisterStaleEarlyDiscards(reg, mgr.StaleEarlyDiscards)
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	pressure := newBackPressure(cfg, store, srv, reg, log.With("component", "backpressure"))
	if pressure != nil {
		srv.SetBackPressure(pressure.State, cfg.BackPressure.SlowDelay.D())
		adm.SetBackPressure(pressure.State)
	}

	metrics.RegisterSuspended(reg, mgr.SuspendedQueues)
	var metricsSrv *http.Server
	metricsAddr := "off" // named in the ready line
	if cfg.Server.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.Server.MetricsListen)
		if err != nil {
			srv.Shutdown(context.Background())
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		// net/http's own 400 and 431 answers, logged (httprefusal).
		mln := httprefusal.New("metrics", log, nil).Listener(ln)
		gd.goRun("metrics", func() { metricsSrv.Serve(mln) })
		metricsAddr = "http://" + ln.Addr().String() + "/metrics"
	}

	// Nothing may fail once the queue has started: a return from here
	// ends the process without the drain, its deliveries in flight cut
	// with their slots saying running — a crash counted against each at
	// the next start for a stop umbra decided. So the pickup directory
	// is made first.
	if dir := cfg.Pickup.Directory; dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return shownErr(reachError("pickup directory", dir, err), dir)
		}
		// One server's: another sharing it would take this one's
		// .queued files for files to submit again (pickup.Lock).
		release, err := pickup.Lock(dir)
		if err != nil {
			return shownErr(fmt.Errorf("pickup directory %s: %w", dir, err), dir) // its name on one line (db.go shown)
		}
		defer release()
	}
	if holders != nil {
		// Before the first delivery: what the servers keeping copies of
		// this server's messages finished of the copies they took over
		// while it was away is neither delivered nor reported again
		// here (queue takendone.go). A holder that does not answer
		// delays the start by at most holdersFirstAsk.
		askHolders(context.Background(), holders, true)
		// The same round after a stall (SIGSTOP, a long hang) that a
		// shadow server may have taken copies over in: new attempts
		// wait for it (queue stallguard.go); a process that runs on has
		// no start.
		mgr.GuardStall(stallAfter,
			func(ctx context.Context) { askHolders(ctx, holders, false) })
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	mgr.Start(runCtx, clients...)
	if pressure != nil {
		// nil: the system clock
		go gd.loop(runCtx, "backpressure", func() { pressure.Run(runCtx, nil, cfg.BackPressure.CheckInterval.D()) })
	}
	go gd.loop(runCtx, "space_reserve", func() { restoreSpaceReserve(runCtx, store) }) // queue/spacereserve.go
	go gd.loop(runCtx, "callout_prune", func() { pruneCallout(runCtx, callout, log.With("component", "recipients")) })
	go gd.loop(runCtx, "callout_learn", func() { learner.run(runCtx, callout, log.With("component", "recipients")) })
	dumpDone := make(chan struct{})
	go func() {
		defer close(dumpDone)
		gd.loop(runCtx, "dumpster", func() { dump.Run(runCtx) })
	}()
	tlsDone := make(chan struct{})
	if tlsEngine != nil {
		go func() {
			defer close(tlsDone)
			gd.loop(runCtx, "outbound_tls", func() {
				runOutboundTLS(runCtx, tlsEngine, tlsReports, cfg.OutboundTLS.MTASTSRefreshInterval.D(), log.With("component", "tlspolicy"))
			})
		}()
	} else {
		close(tlsDone)
	}
	holdersDone := make(chan struct{})
	if holders != nil {
		go func() {
			defer close(holdersDone)
			gd.loop(runCtx, "holders", func() { holders.Run(runCtx) })
		}()
	} else {
		// Shadow redundancy off: the discards still owed to the holders
		// of copies made while it was on are pushed to them (their
		// queries are refused here now; delivery owedpush.go).
		go func() {
			defer close(holdersDone)
			gd.loop(runCtx, "owed_discards", func() {
				del.PushOwedWhileOff(runCtx, mgr, func() time.Duration { return current().Transport.ShadowHeartbeatTimeout.D() })
			})
		}()
	}
	pickupDone := make(chan struct{})
	if dir := cfg.Pickup.Directory; dir != "" {
		w := pickup.New(pickup.Config{Panicked: metrics.RegisterPickupPanics(reg), AuthservIDs: frontDoorIDs(cfg).Org, Dir: dir, Interval: cfg.Pickup.Interval.D(), MaxSize: int64(cfg.Pickup.MaxMessageSize),
			Hostname: cfg.Server.Name, Queue: mgr, Log: log.With("component", "pickup"), Paused: pickupPaused(pressure),
			Spool: store.NewSpool, SpoolThreshold: int64(cfg.Transport.SpoolThreshold), MaxHeaderSize: int(cfg.Transport.MaxHeaderSize),
			// A .queued file whose message the database does not hold
			// (a new or restored database) is submitted again: the
			// queue's PickupFate.
			RcptKey: srv.RcptKey})
		go func() {
			defer close(pickupDone)
			gd.loop(runCtx, "pickup", func() { w.Run(runCtx) })
		}()
	} else {
		close(pickupDone)
	}
	srv.Serve()
	var addrs []string
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	log.Info("umbra ready", "server", cfg.Server.Name, "role", cfg.Server.Role, "listen", addrs, "version", version,
		"metrics", metricsAddr, "admin_socket", cfg.Server.AdminSocket)
	if _, err := systemd.Notify("READY=1"); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	// Ready, and where its admin socket is: a command that finds no
	// answer at the socket an edited file names knows it runs (admin
	// RunFile), not "starting".
	runDir := cfg.Server.DataDir
	if err := admin.WriteRunFile(runDir, adm.Path()); err != nil {
		log.Warn("the run file was not written: a command reading a configuration file edited since may take umbra for starting", "file", filepath.Join(runDir, admin.RunFile), "err", err)
	}
	defer admin.RemoveRunFile(runDir)

	// SIGHUP reloads the configuration file in place. The channel was
	// notified before the start (newServeCmd): a signal that came
	// meanwhile is waiting in it and is done now.
	if len(hup) > 0 {
		log.Info("a reload asked during the start (SIGHUP before umbra ready) is done now")
	}
	var stopping atomic.Bool // the drain began: a reload is not attempted
	go func() {
		for range hup {
			// A panic of the reload (a defect) is a failed reload: the
			// daemon keeps serving under what the reload had applied,
			// the status says failed, and the next SIGHUP is read
			// (helperpanic.go).
			if !gd.run("reload", func() {
				// The tracking log first, also during a stop: a SIGHUP
				// still reopens it (one may come from a logrotate file of
				// an earlier release, copied with its postrotate; the
				// shipped one sends none).
				if trackLog != nil {
					if err := trackLog.Reopen(); err != nil {
						log.Error("tracking log not reopened", "path", cfg.Tracking.Path, "err", err)
					}
				}
				if stopping.Load() {
					log.Warn("SIGHUP ignored: umbra is stopping (draining); the configuration file is read at the next start")
					return
				}
				log.Info("reloading: reading the configuration file again", "signal", "SIGHUP", "file", cfg.File)
				systemd.Notify("RELOADING=1")
				next, nextRcpt, pending, err := reload(cfg, srv, del, mgr, suspended, shadows, log, callout, edge, dir, adm.Move, warned)
				if err == nil {
					if next.BackPressure.Enabled != cfg.BackPressure.Enabled { // a restart would change it (reloadBackPressure keeps it)
						pending = append(pending, "changed: back_pressure.enabled")
					}
					reloadBackPressure(pressure, srv, cfg, next, log.With("component", "backpressure")) // backpressure.go
					reloadPublication(stsLive, next, log.With("component", "tlspolicy"))                // outboundtls.go
					reloadRoots(tlsEngine, next, log.With("component", "tlspolicy"))                    // outboundtls.go
				}
				if err != nil && stopping.Load() {
					// The stop began while it ran: the drain closed what it
					// was replacing. Not a failed reload.
					log.Warn("SIGHUP ignored: umbra began to stop during the reload; the configuration file is read at the next start")
					return
				}
				// A reload that applied but left a part to a restart (one
				// refused, one changed) is a success that a restart would
				// undo or refuse: said by its own gauge and a line of its
				// own, as a failed reload is.
				ops.Reload(err, len(pending) > 0)
				if err == nil && len(pending) > 0 {
					log.Warn("reload: the file has parts the running daemon did not take; a restart would refuse or change them (umbra_config_restart_would_fail 1)",
						"parts", pending)
				}
				// The admin socket's file removed or replaced under the
				// daemon (a cleanup of /run, by hand): SIGHUP makes it
				// again at its path, whether or not the file reloaded —
				// the CLI, finding the daemon listening on a socket whose
				// file is gone, says to send it (admin.ErrSocketGone).
				if made, serr := adm.Remake(); serr != nil {
					log.Error("the admin socket is gone and was not made again; commands cannot reach umbra", "admin_socket", adm.Path(), "err", serr)
				} else if made {
					log.Warn("the admin socket's file was gone (removed or replaced); made again", "admin_socket", adm.Path())
				}
				if err := admin.WriteRunFile(runDir, adm.Path()); err != nil { // the socket moved, or its file made again
					log.Warn("the run file was not written", "file", filepath.Join(runDir, admin.RunFile), "err", err)
				}
				if err != nil {
					log.Error("reload failed; the running configuration stays in force", "err", err)
				} else {
					dump.SetConfig(dumpsterConfig(next))
					cfgMu.Lock()
					cfg = next
					cfgMu.Unlock()
					liveRcpt.Store(nextRcpt)
					forgetGone(next) // a server the new topology moved or removed
					if con != nil {
						con.Reread() // its credentials file as SMTP AUTH reads its own: by content, at each reload
					}
				}
				// Its state for the status, once what it applied is in
				// force: a status that shows it shows the new configuration.
				func() {
					reloadMu.Lock()
					defer reloadMu.Unlock() // err.Error is any error's code: a panic there leaves the status readable
					now := time.Now()
					reloadState = admin.ReloadState{Count: reloadState.Count + 1, Time: &now, Result: "ok",
						Pending: slices.Clone(pending), RestartWouldFail: err != nil || len(pending) > 0}
					if err != nil {
						reloadState.Result, reloadState.Error, reloadState.Pending = "failed", errorText(err), nil // in the answers' text form: written as it is
					}
				}()
				systemd.Notify("READY=1")
			}) {
				continue
			}
			func() {
				reloadMu.Lock()
				defer reloadMu.Unlock()
				now := time.Now()
				reloadState = admin.ReloadState{Count: reloadState.Count + 1, Time: &now, Result: "failed",
					Error: "internal error (recovered panic)", RestartWouldFail: true}
			}()
			ops.Reload(errors.New("reload panicked"), false)
			log.Error("reload failed: it panicked; the configuration applied before the panic stays in force")
			systemd.Notify("READY=1")
		}
	}()

	<-ctx.Done()
	stopping.Store(true)
	// Stopping, for a command that finds the admin socket closed while
	// the database is still held (startmark.go): not "starting".
	markStopping(cfg.Server.AdminSocket)
	// A second signal during the drain ends the process at once, as the
	// operator's decision: not a crash (stopAtOnce).
	now := make(chan os.Signal, 1)
	signal.Notify(now, syscall.SIGINT, syscall.SIGTERM) // before the first's is stopped: no moment with neither
	defer signal.Stop(now)
	stopSignals()
	go func() {
		if gd.run("stop_at_once", func() { stopAtOnce(now, mgr, log) }) {
			os.Exit(exitFailure) // the operator's stop, even so: at once (the crash argument covers it)
		}
	}()
	// The signal that asked for the stop is named (opsrt43 O5): a
	// `kill -INT` or a SIGTERM from outside was told from nothing else.
	var asked stopSignal
	errors.As(context.Cause(ctx), &asked)
	log.Info("draining: no new sessions, no new delivery attempts; finishing transactions and the deliveries under way",
		"signal", asked.name(), "timeout", drainTimeout)
	systemd.Notify("STOPPING=1")
	// No delivery attempt starts from here on: mail received during the
	// drain is stored and goes at the next start; attempts under way go
	// on until the drain ends (then a body begun gets its grace).
	adm.SetStopping() // its answers say so: what a command makes due goes at the next start
	mgr.Drain()
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	// The shadow servers' watch sessions stay open through the drain:
	// the discards of the deliveries finished meanwhile reach them as
	// they commit, and the last long poll is answered once deliveries
	// stopped, before the sessions close (rt27 F3).
	srv.Drain(drainCtx)
	cancelRun()
	<-holdersDone
	<-pickupDone
	<-dumpDone
	<-tlsDone // its last flush writes the store
	mgr.Wait()
	closeCtx, cancelClose := context.WithTimeout(context.Background(), shadowCloseTimeout)
	srv.CloseShadow(closeCtx)
	cancelClose()
	// What is still owed to the shadow servers is handed to them now: if
	// this server does not come back soon they would take over, and
	// deliver again, what it delivered.
	del.PushOwedDiscards(context.Background(), mgr, delivery.StopPushPerServer)
	if metricsSrv != nil {
		stopHTTP(drainCtx, metricsSrv)
	}
	log.Info("stopped")
	return nil
}

// damagedLogged bounds the lines a start logs for damaged records it set
// aside: a page overwritten can hold many.
const damagedLogged = 20

// serverTopology loads the configured topology, if any, and checks that
// this server is in it.
func serverTopology(cfg *config.Config) (*routing.Topology, error) {
	t, _, err := serverTopologies(cfg)
	return t, err
}

// serverTopologies is serverTopology with the file as it was read (its
// lines, for warnings about it): the file is read once, so both describe
// the same version of it.
func serverTopologies(cfg *config.Config) (*routing.Topology, *config.Topology, error) {
	if cfg.Topology == "" {
		if _, err := receiptWithoutCandidates(cfg, nil); err != nil { // shadow_on_receipt with no shadow server
			return nil, nil, err
		}
		return nil, nil, nil
	}
	var bindings []string // nil: not compared
	for _, rc := range cfg.ReceiveConnectors {
		if !cfg.Server.AddressTranslated {
			bindings = append(bindings, rc.Bindings...)
		}
	}
	ct, err := config.LoadTopology(cfg.Topology)
	var t *routing.Topology
	if err == nil {
		t, err = topology.Build(ct)
	}
	if err != nil {
		// The file's own errors and this server's place in it (role,
		// address) in one run, each at its line (rt45 F7): fixing the
		// first must not reveal the second.
		return nil, nil, mergeErrors(err, config.CheckTopologyServer(cfg.Topology, cfg.Server.Name, cfg.Server.Role, bindings))
	}
	if _, ok := t.Server(cfg.Server.Name); !ok {
		// This file's mistake (a typo of server.name), at its line: the
		// topology, which every server reads, is fine.
		return nil, nil, config.Errors{cfg.ErrorAt(fmt.Sprintf("server.name %q is not a server of the topology %s", cfg.Server.Name, config.ShownPath(cfg.Topology)),
			"server", "name")}
	}
	placeErr := config.CheckTopologyServer(cfg.Topology, cfg.Server.Name, cfg.Server.Role, bindings)
	if err := mergeErrors(placeErr, cfg.BindingsOfOtherServers(ct)); err != nil { // a binding copied from another server's file
		return nil, nil, err
	}
	if _, err := localStoreCheck(cfg); err != nil { // this server's own store against the topology (localstore.go)
		return nil, nil, err
	}
	if _, err := receiptWithoutCandidates(cfg, t); err != nil { // shadow_on_receipt with no candidate (shadowreceipt.go)
		return nil, nil, err
	}
	return t, ct, nil
}

// mergeErrors is first and then's errors in one answer: the
// config.Errors of both, without repeats, in file and line order. An
// error that is no list of lines (an unreadable file) is answered alone.
func mergeErrors(first, then error) error {
	if first == nil || then == nil {
		if first != nil {
			return first
		}
		return then
	}
	var a, b config.Errors
	if !errors.As(first, &a) {
		return first
	}
	if !errors.As(then, &b) {
		return first
	}
	out := append(config.Errors{}, a...)
	seen := map[string]bool{}
	for _, e := range a {
		seen[e.Error()] = true
	}
	for _, e := range b {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	fileOrder := map[string]int{} // the files in the order given
	for _, e := range out {
		if _, ok := fileOrder[e.File]; !ok {
			fileOrder[e.File] = len(fileOrder)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if fi, fj := fileOrder[out[i].File], fileOrder[out[j].File]; fi != fj {
			return fi < fj
		}
		return out[i].Line < out[j].Line
	})
	return out
}

func deliveryConfig(cfg *config.Config, table *routing.Table, topo *routing.Topology, suspended func(string) bool,
	shadows *shadow.Recorder, log *slog.Logger) (delivery.Config, error) {
	t := cfg.Transport
	var clientTLS *tls.Config
	if t.ClientCertFile != "" {
		cert, err := config.LoadKeyPair(t.ClientCertFile, t.ClientKeyFile,
			[]any{"transport", "client_cert_file"}, []any{"transport", "client_key_file"})
		if err != nil {
			return delivery.Config{}, cfg.Place(err) // at its line
		}
		clientTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Every certificate check of a next hop (a verify connector, a
	// REQUIRETLS relay between hubs) trusts the one store outboundRoots
	// makes, as the MTA-STS checks do (rt21d M4).
	roots, err := outboundRoots(cfg)
	if err != nil {
		return delivery.Config{}, cfg.Place(err)
	}
	if roots != nil {
		if clientTLS == nil {
			clientTLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		clientTLS.RootCAs = roots
	}
	dc := delivery.Config{
		TLSConfig: clientTLS,
		Topology:  topo, LocalServer: cfg.Server.Name,
		Suspended: suspended, Hostname: cfg.Server.Name, Routing: table, SendConnectors: cfg.SendConnectors,
		Mailbox: cfg.Mailbox, ConnectTimeout: t.ConnectTimeout.D(), MXLookupTimeout: t.MXLookupTimeout.D(), CommandTimeout: t.CommandTimeout.D(),
		DataTimeout: t.DataTimeout.D(), ShadowHeartbeatTimeout: t.ShadowHeartbeatTimeout.D(), MaxConnectionsPerDestination: t.MaxConnectionsPerDestination,
		Log: log.With("component", "delivery"), MaxHopCount: t.MaxHopCount,
		SourceAddress: cfg.Server.SourceAddress,
	}
	for _, rc := range cfg.ReceiveConnectors {
		dc.OwnBindings = append(dc.OwnBindings, rc.Bindings...)
	}
	signer, err := signing.New(cfg.DKIM, cfg.OwnDomain) // key files: read at start, reload and config check; the author read as the From: check reads it
	if err != nil {
		return delivery.Config{}, cfg.Place(err) // a key file at its line
	}
	dc.Signer = signer
	switch {
	case shadows != nil && cfg.Transport.ShadowRedundancyEnabled:
		dc.ShadowServerID, dc.Shadows = cfg.Server.Name, shadows
		dc.ShadowRetriesRemote, dc.ShadowRetriesLocal = cfg.Transport.MaxRetriesRemoteSiteShadow, cfg.Transport.MaxRetriesLocalSiteShadow
	default:
		dc.OwedPushID = cfg.Server.Name // discards owed from before shadow redundancy was turned off (delivery owedpush.go)
		if shadows != nil {
			// The copies held from before are still watched under this
			// server's id (delivery WatchID); nothing new is copied.
			dc.WatchID, dc.Shadows = cfg.Server.Name, shadows
		}
	}
	return dc, nil
}

// shadowTiming is the heartbeat settings of a configuration.
func shadowTiming(cfg *config.Config) shadow.Timing {
	return shadow.Timing{Timeout: cfg.Transport.ShadowHeartbeatTimeout.D(), Retries: cfg.Transport.ShadowHeartbeatRetryCount,
		CommandTimeout: cfg.Transport.CommandTimeout.D()}
}

func policy(cfg *config.Config) queue.Policy {
	t := cfg.Transport
	p := queue.Policy{RetryJitter: t.RetryJitter, MessageExpiration: t.MessageExpiration.D(), DelayNotification: t.DelayNotification.D()}
	for _, d := range t.RetrySchedule {
		p.RetrySchedule = append(p.RetrySchedule, d.D())
	}
	p.Inside = inside(cfg)
	return p
}

// inside is what this server knows, without asking a topology, of where
// the organisation ends, for its DSNs' Remote-MTA (queue.Inside): the
// hosts that take mail for its authoritative and internal_relay domains
// (an edge's smart host for them is a hub), and the smart hosts of its
// send connectors that speak shadow redundancy (send_xshadow: only
// servers of the organisation do); and whose senders are inside, for
// how much of umbra's own diagnostics its DSNs show: the authoritative
// and internal_relay domains' (queue.Inside.Sender) — an edge has only
// the latter, whose users relay out through it (rt36 F3).
func inside(cfg *config.Config) queue.Inside {
	var in queue.Inside
	for _, d := range cfg.AcceptedDomains {
		if d.Type == config.DomainAuthoritative || d.Type == config.DomainInternalRelay {
			in.Domains = append(in.Domains, d.Domain)
			in.SenderDomains = append(in.SenderDomains, d.Domain)
		}
	}
	for _, c := range cfg.SendConnectors {
		if c.SendXShadow {
			in.Connectors = append(in.Connectors, c.Name)
		}
	}
	return in
}

func dumpsterConfig(cfg *config.Config) dumpster.Config {
	return dumpster.Config{MaxSizePerDatabase: int64(cfg.Transport.MaxDumpsterSizePerDatabase),
		MaxTime: cfg.Transport.MaxDumpsterTime.D()}
}

// duplicateWindow is how long final deliveries are remembered (SR-11):
// as long as a resubmitted copy can arrive — a shadow copy lives up to
// message_expiration, a dumpster copy up to max_dumpster_time.
func duplicateWindow(cfg *config.Config) time.Duration {
	return max(cfg.Transport.MessageExpiration.D(), cfg.Transport.MaxDumpsterTime.D())
}

// reload reads the configuration file again and applies what can change
// in place: receive connectors (with their certificates and credentials),
// accepted domains, send connectors, mailbox delivery, retry and expiry,
// and the shadow heartbeat settings.
// What needs a restart is named in a warning and left as it was. It
// returns the new configuration and the recipient validator it put in
// force (route explain asks the daemon's: GET /v1/rcptcheck), and the
// parts of the file the running daemon did not take that a restart
// would refuse (a start-only part's refusal, warned of) or change (a
// setting only a restart applies): umbra_config_restart_would_fail.
func reload(cur *config.Config, srv *smtp.Server, del *delivery.Deliverer, mgr *queue.Manager,
	suspended func(string) bool, shadows *shadow.Manager, log *slog.Logger, callout *recipients.Callout, edge *edgeChecks,
	dir *ldapdir.Directory, moveSocket func(path string) error, warned *warnedConfig) (*config.Config, *recipients.Validator, []string, error) {
	var next *config.Config
	var err error
	if cur.File == "" {
		next, err = config.LoadDefault()
	} else {
		next, err = config.Load(cur.File)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	// Everything serve and config check refuse, at the same lines: a
	// listener on an address this machine does not have, a key that does
	// not load, the topology, the recipient directory, every file read.
	// A new binding another process holds, at its line.
	var held []string
	for _, rc := range cur.ReceiveConnectors {
		held = append(held, rc.Bindings...)
	}
	// The parts a reload does not apply (the console, the resolver) are
	// warned of, not refused (checkReload).
	var pending []string // what a restart would refuse or change
	if f := checkReload(next, func(summary string, err error) {
		log.Warn("reload: a part that applies only at a restart would not start; it runs as it was", "what", summary, "err", err)
		// With the file and line, as the log line has them (rt30c F7):
		// the status and the console's header show this entry.
		// In the answers' text form (ReloadState): each line by the
		// configuration's text rule, a value the loader quoted escaped
		// once, as the log line and config check show it.
		pending = append(pending, "refused: "+jsonsafe.TextBytes(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(summary), ":")))+
			": "+strings.ReplaceAll(configText(err.Error(), next.File), "\n", "; "))
	}); f != nil {
		if err := probeNewBindingsInUse(next, held); err != nil { // with the rest, not only on the next try
			f.detail = append(f.detail, strings.Split(err.Error(), "\n")...)
		}
		return nil, nil, nil, f
	}
	if err := probeNewBindings(next, held); err != nil {
		return nil, nil, nil, err
	}
	restart, errs, _ := againstRunning(cur, next, false)
	if len(errs) > 0 {
		return nil, nil, nil, errs[0]
	}
	// The recipients file is read again; a broken one fails the reload.
	rcptv, err := recipientValidator(next, callout, ldapRecipients(dir), log.With("component", "recipients"))
	if err != nil {
		return nil, nil, nil, err
	}
	table := topology.RoutingTable(next)
	topo, ctopo, err := serverTopologies(next)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := storeLostAtReload(cur, next, ctopo); err != nil {
		return nil, nil, nil, err
	}
	if ctopo != nil {
		next.TopologySource = ctopo.Source
	}
	topo = withDirectoryDatabases(topo, next, dir)
	// The delivery configuration in force: its topology's addresses are
	// kept for a name whose lookup fails for a time now; a failed reload
	// gives it back as it ran.
	runningDelivery := del.RunningConfig()
	resolveServerHosts(topo, runningDelivery.Topology, edge.dns, log, edge.guard) // once per reload, as at start
	dc, err := deliveryConfig(next, table, topo, suspended, shadows.Recorder(), log)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := del.Reload(dc); err != nil {
		return nil, nil, nil, err
	}
	edge.cfg.Store(next) // the checks of the new connectors read it
	if err := srv.Reload(next.ReceiveConnectors, table); err != nil {
		edge.cfg.Store(cur)
		// The delivery configuration that ran, not one built again
		// from cur: that one's topology had its server host names
		// unresolved (a server listed by name then no twin of this
		// one, its connections' source no longer its own).
		if rerr := del.Reload(runningDelivery); rerr != nil {
			log.Error("restoring the delivery configuration failed", "err", rerr)
		}
		return nil, nil, nil, err
	}
	edge.cf.reloaded(next) // a DNS list the reload removed is forgotten: added back, it is a new one
	if topo != nil {
		srv.SetServers(topo)
		mgr.SetServers(topo)
	} else {
		srv.SetServers(nil)
		mgr.SetServers(nil)
	}
	del.ReloadCommitted() // refusals of shadow servers this reload removed from the topology dropped
	srv.SetRecipients(rcptv)
	srv.SetAuthservIDs(frontDoorIDs(next))
	del.SetRecipients(rcptv)
	mgr.SetPolicy(policy(next))
	mgr.SetQuarantine(next.Transport.Quarantine.Expiration.D(), next.Transport.Quarantine.DSNOnExpiry)
	mgr.SetQuarantineBound(int64(next.Transport.Quarantine.MaxSize), next.Transport.Quarantine.MaxMessages)
	mgr.SetReloadable(next.Transport.MaxConnectionsPerDestination, duplicateWindow(next))
	if shadows != nil {
		// shadow_heartbeat_timeout, shadow_heartbeat_retry_count and
		// command_timeout apply to the running heartbeats at once.
		was := shadows.Timing()
		shadows.SetTiming(shadowTiming(next))
		// Every primary copies are held for gets its watch session again
		// at the next step, as at the start: the discards of copies held
		// come as the primary commits them, whatever ended a session
		// under the previous topology.
		shadows.WatchHeld()
		if now := shadows.Timing(); now != was {
			log.Info("shadow heartbeat settings applied", "shadow_heartbeat_timeout", now.Timeout.String(),
				"shadow_heartbeat_retry_count", now.Retries, "heartbeat_bound", now.CommandTimeout.String())
		}
	}
	// The admin socket moves to where the file now says (admin.Server
	// Move): the CLI reads the file to find it. Where it cannot be made,
	// it stays where it was and the error names the setting's line.
	socket := cur.Server.AdminSocket
	// A new path that names the running socket (its directory through a
	// symbolic link: data_dir: blink, blink -> data) is no move (rt28e F4).
	if next.Server.AdminSocket != cur.Server.AdminSocket && !samePlace(cur.Server.AdminSocket, next.Server.AdminSocket) && moveSocket != nil {
		if err := moveSocket(next.Server.AdminSocket); err != nil {
			log.Error("the admin socket was not moved; it stays where it was: "+next.ErrorAt(fmt.Sprintf("server.admin_socket %s: %v", next.Server.AdminSocket, err), "server", "admin_socket").Error(),
				"admin_socket", cur.Server.AdminSocket)
			pending = append(pending, "refused: server.admin_socket "+shown(next.Server.AdminSocket)+": "+errorText(err)) // the answers' text form, the path on one line
		} else {
			socket = next.Server.AdminSocket
			log.Info("admin socket moved", "from", cur.Server.AdminSocket, "admin_socket", socket)
		}
	}
	warned.log(log, configWarnings(context.Background(), next, ctopo, topo, noDNS{})) // as at start, when they changed
	if len(restart) > 0 {
		log.Warn("reloaded; these settings changed but apply only after a restart", "settings", restart)
	} else {
		log.Info("configuration reloaded", "file", cur.File)
	}
	keepRunning(cur, next)
	next.Server.AdminSocket = socket // where it is now
	for _, k := range restart {
		pending = append(pending, "changed: "+k)
	}
	return next, rcptv, pending, nil
}

// againstRunning is the reload's comparisons of next, the file as
// loaded, with the running configuration cur — what a check of the
// file alone cannot see — and puts into next what the reload keeps of
// cur (restartOnly, KeepServer, KeepOutboundTLS). It names the
// restart-only settings that changed and the refusals: the first only
// (a reload stops there), or with all each one in the same run
// (reloadRefusals, config check's dry run); placed is false when the
// running server has no place in the file's topology. It changes
// nothing else.
func againstRunning(cur, next *config.Config, all bool) (restart []string, errs []error, placed bool) {
	restart = restartOnly(cur, next)
	refuse := func(err error) bool {
		if err != nil {
			errs = append(errs, err)
		}
		return len(errs) > 0 && !all
	}
	if refuse(postmasterLeft(cur, next)) {
		return restart, errs, true
	}
	// The server section applies only at a restart (restartOnly named
	// what changed): what the reload builds — the topology's place of
	// this server, routing, delivery's greeting name, source address
	// and shadow id — is built from the running one, never half from
	// the file's (a renamed server greeted next hops by the new name
	// while it received and shadowed as the old). The admin socket
	// moves by the reload itself (reload).
	// What the loader derived from the file's server section (an
	// authserv-id, a relative Maildir) is derived again from the
	// running one (KeepServer).
	fileServer := next.Server
	next.KeepServer(cur)
	// A written directory moved is checked as at the start (mail would
	// only be deferred there, pickup files stay, the log not rotated):
	// after KeepServer, so that a relative Maildir is the running
	// data_dir's, not one the file names for the restart. dirCheck
	// makes nothing.
	if refuse(movedDirsReady(cur, next)) {
		return restart, errs, true
	}
	if err := runningNameInTopology(next, fileServer); err != nil {
		// Nothing further is built for a server the topology does not
		// have: the dry run stops here too, not saying it twice.
		return restart, append(errs, err), false
	}
	// outbound_tls stays as it runs (restartOnly named a change): the
	// trust store the reload makes is from the running ca_file, read
	// again (a CA renewed in place), and the receive connectors' CAs as
	// now.
	next.KeepOutboundTLS(cur)
	return restart, errs, true
}

// reloadRefusals is a SIGHUP reload's refusals of the configuration
// file at file measured against the running configuration cur, as a
// dry run for config check (POST /v1/config/check): the file read as
// the daemon reads it, then every comparison with the running state
// (againstRunning), the topology this server would run and the
// authoritative domains it would move into this server's own store
// (storeLostAtReload). Each refusal is a line in the reload's words at
// file:line; none, the reload would take the file. Nothing is applied
// and no listener is bound: a new binding another process holds is
// found by the reload only (probeNewBindings), and the checks of the
// file alone are config check's own.
func reloadRefusals(cur *config.Config, file string) []string {
	var lines []string
	add := func(err error) {
		if err != nil {
			lines = append(lines, strings.Split(err.Error(), "\n")...)
		}
	}
	next, err := config.Load(file)
	if err != nil {
		add(err)
		return lines
	}
	_, errs, placed := againstRunning(cur, next, true)
	for _, err := range errs {
		add(err)
	}
	if !placed {
		return lines // the running server is not in the file's topology: said by againstRunning
	}
	_, ctopo, err := serverTopologies(next)
	add(err)
	if err == nil {
		add(storeLostAtReload(cur, next, ctopo))
	}
	return lines
}

// restartOnly names the settings of next that differ from the running
// configuration cur but apply only after a restart, and puts into next
// the running values of those read at start by the receive side (which
// the reload hands next to). Every comparison is against what runs: cur
// holds the running values of every restart-only setting (keepRunning),
// never the file loaded last, so a setting not yet applied is named on
// every reload and putting the file back is no change.
func restartOnly(cur, next *config.Config) []string {
	var restart []string
	srvNext := next.Server
	srvNext.AdminSocket = cur.Server.AdminSocket // moved by the reload itself
	if srvNext != cur.Server {
		restart = append(restart, changedKeys("server", cur.Server, srvNext)...)
	}
	if next.Tracking != cur.Tracking {
		restart = append(restart, changedKeys("tracking", cur.Tracking, next.Tracking)...)
	}
	if next.Transport.ResultCommitDelay != cur.Transport.ResultCommitDelay {
		restart = append(restart, "transport.result_commit_delay")
	}
	// Each transport key read only at start, by the name the file
	// gives it, not a group of them (transportRestart).
	for _, key := range transportRestart {
		if key != "body_memory_limit" && key != "result_commit_delay" && changedKeys("transport."+key, yamlField(cur.Transport, key), yamlField(next.Transport, key)) != nil {
			restart = append(restart, "transport."+key)
		}
	}
	// The receive side's, read at start: what runs stays.
	next.Transport.SpoolThreshold, next.Transport.MaxHeaderSize = cur.Transport.SpoolThreshold, cur.Transport.MaxHeaderSize
	if next.Transport.BodyMemoryLimit != cur.Transport.BodyMemoryLimit || next.Transport.BodyMemoryDerived != cur.Transport.BodyMemoryDerived {
		// The receive side's budget, made at start. Not in the file, it
		// is named for what it derives from, which the operator changed,
		// with its value before and after (derivedKey; rt24c F11).
		if next.Transport.BodyMemoryLimit != cur.Transport.BodyMemoryLimit {
			restart = append(restart, derivedKey("transport.body_memory_limit", cur.Transport.BodyMemoryDerived, next.Transport.BodyMemoryDerived,
				"the receive connectors' max_message_size and max_connections",
				size(int64(cur.Transport.BodyMemoryLimit)), size(int64(next.Transport.BodyMemoryLimit))))
		}
		next.Transport.BodyMemoryLimit, next.Transport.BodyMemoryDerived = cur.Transport.BodyMemoryLimit, cur.Transport.BodyMemoryDerived
	}
	restart = append(restart, changedKeys("auth_throttle", cur.AuthThrottle, next.AuthThrottle)...)
	// The console's listener and the pickup directory's watcher are
	// made at start.
	for _, k := range changedKeys("console", cur.Console, next.Console) {
		if k != "console.credentials_file" { // read from the configuration in force (startConsole)
			restart = append(restart, k)
		}
	}
	restart = append(restart, changedKeys("pickup", cur.Pickup, next.Pickup)...)
	if cur.OutboundTLSChanged(next) {
		restart = append(restart, "outbound_tls") // the policy engine and its cache are built at start
	}
	restart = append(restart, changedKeys("dns", cur.DNS, next.DNS)...) // one resolver, built at start
	// Receive-side policy is read at start: keep what is running.
	next.Transport.MaxHopCount, next.Transport.BounceSizeLimit = cur.Transport.MaxHopCount, cur.Transport.BounceSizeLimit
	next.AuthThrottle = cur.AuthThrottle
	if next.Recipients.Callout != cur.Recipients.Callout {
		restart = append(restart, "recipients.callout")
	}
	if next.LDAP != cur.LDAP { // the directory's connections and cache are built at start
		restart = append(restart, changedKeys("ldap", cur.LDAP, next.LDAP)...)
		next.LDAP = cur.LDAP
	}
	// A setting the file does not write, derived from one it does: named
	// as derived, from what, with the value before and after (rt58 F6).
	for i, key := range restart {
		switch key {
		case "transport.dead_destination_cool_down":
			restart[i] = derivedKey(key, cur.Transport.CoolDownDerived, next.Transport.CoolDownDerived, "retry_schedule's first step",
				cur.Transport.DeadDestinationCoolDown.D().String(), next.Transport.DeadDestinationCoolDown.D().String())
		case "server.postmaster":
			// The rule that derived it (rt36 F2): an edge with no
			// authoritative domain derives it from server.name's domain
			// or its first internal_relay domain, and the note named
			// "the first authoritative domain" it does not have.
			from := next.PostmasterDerivedFrom()
			if !next.Server.PostmasterDerived {
				from = cur.PostmasterDerivedFrom() // set now: how the running one was derived
			}
			restart[i] = derivedKey(key, cur.Server.PostmasterDerived, next.Server.PostmasterDerived, from,
				cur.Server.Postmaster, next.Server.Postmaster)
		}
	}
	return restart
}

// postmasterLeft refuses a reload whose accepted domains would leave the
// running postmaster outside the organisation (rt33b F2). server.postmaster
// applies only at a restart — derived or set, it stays as it runs — and
// RCPT TO:<postmaster> is taken from anyone: applied, the reload would
// relay that mail out of the organisation (or refuse it as a relay,
// against RFC 5321 §4.5.1). Refused as a whole, the configuration in
// force stays; the error says what to do.
func postmasterLeft(cur, next *config.Config) error {
	pm := cur.Server.Postmaster
	_, dom, ok := strings.Cut(pm, "@")
	if !ok || next.InsideDomain(dom) {
		return nil
	}
	how := "set"
	if cur.Server.PostmasterDerived {
		// As config's defaultPostmaster derives it: the first
		// authoritative domain, else server.name's domain, else the
		// first internal_relay domain (rr34: a server with no
		// authoritative domain was told of one).
		how = "not set: derived from " + cur.PostmasterDerivedFrom()
	}
	return next.ErrorAt(fmt.Sprintf("accepted_domains: the running server.postmaster %s (%s) is in no authoritative or internal_relay "+
		"accepted domain of this file, and server.postmaster applies only at a restart: RCPT TO:<postmaster> is taken from anyone "+
		"and would leave the organisation. Keep %s accepted until a restart, or restart umbra to apply the file (its postmaster: %s)",
		pm, how, dom, cmp.Or(next.Server.Postmaster, "none")), "accepted_domains")
}

// runningNameInTopology refuses, saying why, a reload whose topology no
// longer holds the running server.name (or its role there) where the
// file renamed the server (or changed its role) along with the topology:
// server.name and server.role apply only at a restart, so the reload
// would be built for a server the topology does not have, and
// serverTopologies' refusal ("not a server of the topology", a typo)
// named the running name at the line of the file's new one (rr34).
func runningNameInTopology(next *config.Config, fileServer config.Server) error {
	if next.Topology == "" || (fileServer.Name == next.Server.Name && fileServer.Role == next.Server.Role) {
		return nil
	}
	ct, err := config.LoadTopology(next.Topology)
	if err != nil {
		return nil // the file's own errors: serverTopologies
	}
	for _, s := range ct.Servers {
		if strings.EqualFold(strings.TrimSuffix(s.Name, "."), strings.TrimSuffix(next.Server.Name, ".")) && (next.Server.Role == "" || s.Role == next.Server.Role) {
			return nil
		}
	}
	key := "name"
	if fileServer.Name == next.Server.Name {
		key = "role"
	}
	return config.Errors{next.ErrorAt(fmt.Sprintf("server.%s: the running server %s (role %s) is not a server of the topology %s with that role, and server.name and server.role "+
		"apply only at a restart: this reload cannot be applied to the running server. Keep %s in the topology until a restart, or restart umbra to apply the file (server %s, role %s)",
		key, next.Server.Name, cmp.Or(next.Server.Role, "not set"), config.ShownPath(next.Topology), next.Server.Name, fileServer.Name, cmp.Or(fileServer.Role, "not set")), "server", key)}
}

// derivedKey names a changed setting that the running configuration or
// the new file does not set (its value derived from another): key
// (not set: derived from FROM, OLD -> NEW). One set in both is its key.
func derivedKey(key string, wasDerived, isDerived bool, from, was, is string) string {
	switch {
	case wasDerived && isDerived:
		return fmt.Sprintf("%s (not set: derived from %s, %s -> %s)", key, from, was, is)
	case isDerived:
		return fmt.Sprintf("%s (no longer set: derived from %s, %s -> %s)", key, from, was, is)
	case wasDerived:
		return fmt.Sprintf("%s (set now, was derived from %s, %s -> %s)", key, from, was, is)
	}
	return key
}

// keepRunning puts into next, after a reload applied it, the running
// values of the settings that did not apply (restartOnly), so that the
// next reload compares against what is really running.
func keepRunning(cur, next *config.Config) {
	next.Server, next.Tracking = cur.Server, cur.Tracking
	next.Transport.MaxActive, next.Transport.PoisonThreshold = cur.Transport.MaxActive, cur.Transport.PoisonThreshold
	next.Transport.ShadowRedundancyEnabled = cur.Transport.ShadowRedundancyEnabled
	next.Transport.ResultCommitDelay = cur.Transport.ResultCommitDelay
	next.Transport.InitialDestinationConcurrency = cur.Transport.InitialDestinationConcurrency
	next.Transport.DeadDestinationCoolDown = cur.Transport.DeadDestinationCoolDown
	next.Recipients.Callout = cur.Recipients.Callout
	next.DNS = cur.DNS
	// The console's listener, certificate and hosts are made at start;
	// its credentials file is read from the configuration in force
	// (startConsole), so the reload's stays: kept as it ran, a moved
	// console.credentials_file was never read (rt28c F1).
	creds := next.Console.CredentialsFile
	next.Console, next.Pickup = cur.Console, cur.Pickup
	next.Console.CredentialsFile = creds
	next.KeepOutboundTLS(cur)
}

// eventLog writes one log line per message event with fixed keys, then
// passes the event on (metrics).
type eventLog struct {
	log  *slog.Logger
	next queue.Events
	// batchLog, when set, is log writing to w instead of out: a batch's
	// lines are built there and written to out with one write.
	batchLog func(w io.Writer) *slog.Logger
	out      io.Writer
	// lines, when set, keeps ended batches' buffers with their loggers
	// (*batchLines) for the next batch: one batch per delivery attempt
	// then builds no logger and grows no buffer.
	lines *sync.Pool
}

// batchLines is a batch's buffer and the logger (batchLog) writing to it.
type batchLines struct {
	buf bytes.Buffer
	log *slog.Logger
}

// Batch implements queue.EventBatcher: the lines of the batch's events
// are written together when it ends; next gets each event at once.
func (e eventLog) Batch() (queue.Events, func()) {
	if e.batchLog == nil {
		return e, func() {}
	}
	var bl *batchLines
	if e.lines != nil {
		bl, _ = e.lines.Get().(*batchLines)
	}
	if bl == nil {
		bl = &batchLines{}
		bl.log = e.batchLog(&bl.buf)
	}
	b := e
	b.log = bl.log
	return b, func() {
		if bl.buf.Len() > 0 {
			e.out.Write(bl.buf.Bytes())
		}
		if e.lines != nil && bl.buf.Cap() <= 64<<10 { // a rare huge batch is not kept
			bl.buf.Reset()
			e.lines.Put(bl)
		}
	}
}

func (e eventLog) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	if e.log.Enabled(context.Background(), slog.LevelInfo) {
		// Typed attributes in an array on the stack: no value boxed, no
		// slice grown, once per recipient of every message.
		var buf [9]slog.Attr
		attrs := append(buf[:0], slog.String("event", name), slog.String("msg_id", m.ID.String()))
		if r != nil {
			// delay: from arrival to this event; attempts: for the
			// event of an attempt the number of that attempt, 1-based,
			// whatever its outcome (queue heldEvents.counted).
			attrs = append(attrs, slog.String("rcpt", r.Addr), slog.String("next_hop", r.NextHop),
				slog.Duration("delay", time.Since(m.ArrivedHere()).Round(time.Millisecond)),
				slog.Int64("size", m.Size), slog.Int("attempts", m.Attempts))
		} else {
			attrs = append(attrs, slog.String("from", m.From), slog.Int("rcpts", len(m.Rcpts)), slog.Int64("size", m.Size),
				slog.String("connector", m.Connector))
			if m.ClientIP != "" {
				attrs = append(attrs, slog.String("client_ip", m.ClientIP))
			}
		}
		if reply != "" {
			attrs = append(attrs, slog.String("reply", reply))
		}
		e.log.LogAttrs(context.Background(), slog.LevelInfo, "message", attrs...)
	}
	e.next.Event(name, m, r, reply)
}

// fanout passes every event to each of its receivers in order.
type fanout []queue.Events

func (f fanout) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	for _, e := range f {
		e.Event(name, m, r, reply)
	}
}

// Batch implements queue.EventBatcher: the receivers that batch do, the
// others get each event at once.
func (f fanout) Batch() (queue.Events, func()) {
	out := make(fanout, len(f))
	var flushes []func()
	for i, e := range f {
		out[i] = e
		if b, ok := e.(queue.EventBatcher); ok {
			var flush func()
			out[i], flush = b.Batch()
			flushes = append(flushes, flush)
		}
	}
	return out, func() {
		for _, fl := range flushes {
			fl()
		}
	}
}

// stopSignal is the cause of serve's context ending (notifyStop): the
// signal that asked for the stop, named in the line the drain begins
// with.
type stopSignal struct{ sig os.Signal }

func (s stopSignal) Error() string { return s.name() + " received" }

// name is the signal's name as kill(1) and systemd write it (SIGTERM),
// "" for none.
func (s stopSignal) name() string {
	if sig, ok := s.sig.(syscall.Signal); ok {
		return unix.SignalName(sig)
	}
	if s.sig != nil {
		return s.sig.String()
	}
	return ""
}

// notifyStop is signal.NotifyContext for SIGINT and SIGTERM whose
// context's cause (context.Cause) is the stopSignal that ended it. stop
// ends the notification, as NotifyContext's does: a signal after it
// takes its default action.
func notifyStop(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			cancel(stopSignal{sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(context.Canceled)
	}
}

// stopAtOnce ends the process at a second SIGTERM or SIGINT during the
// drain, by that signal as its default action did, without waiting for
// anything (no next hop, no commit). First it records that it cuts the
// deliveries in flight (queue StopAtOnce: one pwrite of each attempt's
// slot): a stop the operator asked for is no crash, and counts none
// toward the poison queue; each such message is due at once at the
// next start, no retry step used, as the drain's own cut leaves it.
func stopAtOnce(sigs <-chan os.Signal, mgr *queue.Manager, log *slog.Logger) {
	sig := <-sigs
	cut, recorded := mgr.StopAtOnce()
	if recorded {
		log.Warn("second signal: stopping at once; deliveries in flight are cut and due at once at the next start, no crash counted",
			"signal", stopSignal{sig}.name(), "deliveries", cut)
	} else {
		log.Warn("second signal: stopping at once; the peer-wait slot file is off, so every delivery in flight counts a crash at the next start",
			"signal", stopSignal{sig}.name())
	}
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		syscall.Kill(os.Getpid(), s)
		time.Sleep(5 * time.Second) // the signal ends the process first
	}
	os.Exit(exitFailure)
}

// mergeLegacyMaildirs moves mail that releases before one Maildir per
// A-label wrote under U-label domain directories into the A-label
// mailboxes new mail goes to (mailbox.MergeLegacyIDN), before any
// delivery, and says what it did and what stays. A failure is logged,
// not fatal: delivery never writes a legacy directory, and the next
// start tries again.
func mergeLegacyMaildirs(root string, log *slog.Logger) {
	rep, err := (&mailbox.Maildir{Root: root}).MergeLegacyIDN()
	for _, d := range rep.Dirs {
		if d.Moved > 0 {
			log.Info("maildir: mail of an internationalised domain moved from its U-label directory into its A-label one",
				"from", d.Old, "to", d.New, "messages", d.Moved)
		}
		if len(d.Left) > 0 {
			log.Warn("maildir: messages kept in the U-label directory: a delivery of the same name is in the A-label mailbox; compare and remove them by hand",
				"dir", d.Old, "messages", len(d.Left), "first", d.Left[0])
		}
		if d.Remains && len(d.Left) == 0 {
			log.Warn("maildir: the U-label directory still holds what is not umbra's to move (a reader's folders or indexes, unfinished writes in tmp/); umbra delivers only into the A-label one",
				"dir", d.Old, "a_label_dir", d.New)
		}
	}
	if err != nil {
		log.Error("maildir: merging U-label domain directories into their A-label ones failed; the next start tries again", "root", root, "err", err)
	}
}

// pathUnder reports whether path is dir or lies below it (by their
// cleaned text).
func pathUnder(path, dir string) bool {
	if path == "" || dir == "" {
		return false
	}
	p, d := filepath.Clean(path), filepath.Clean(dir)
	return p == d || strings.HasPrefix(p, d+string(filepath.Separator))
}

// pickupFileGone is the queue's test before it forgets a pickup end:
// nil (keep every end) without a pickup directory.
func pickupFileGone(dir string) func(queue.ID, string) bool {
	if dir == "" {
		return nil
	}
	return pickup.QueuedFileGone(dir)
}

// pickupKeyGone is the queue's test before it forgets a pickup
// submission's key: nil (keep every such key) without a pickup
// directory.
func pickupKeyGone(dir string) func(string, string) bool {
	if dir == "" {
		return nil
	}
	return pickup.KeyFileGone(dir)
}

// heldBackups is the store as the admin API's backups see it: a backup
// is held at its start while UMBRA_TEST_HOLD_BACKUP names a file
// (holdForTest; a test kills the daemon there, its request taken and no
// byte of the copy sent). Unset in umbra's use: nothing is held.
type heldBackups struct{ *queue.Store }

func (h heldBackups) Backup(w io.Writer, size func(int64)) (int64, error) {
	holdForTest("UMBRA_TEST_HOLD_BACKUP")
	return h.Store.Backup(w, size)
}
