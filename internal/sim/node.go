package sim

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/dumpster"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
	"umbra/internal/smtp"
	"umbra/internal/topology"
)

// Node is one umbra server of the organisation: the composition of
// cmd/umbra's serve (queue, dumpster, shadow manager, deliverer, SMTP
// server) on the simulated network, its transport database a real bbolt
// file.
type Node struct {
	Name, IP string
	dir      string
	cfg      *config.Config
	topo     *routing.Topology
	net      *Network
	log      *slog.Logger

	up      bool
	store   *queue.Store
	mgr     *queue.Manager
	del     *delivery.Deliverer
	srv     *smtp.Server
	shadows *shadow.Manager
	dump    *dumpster.Dumpster
	cancel  context.CancelFunc
	done    chan struct{}
	// afterStart are the operator's requests made while the server was
	// down, run when it is back.
	afterStart []func()
}

func (n *Node) dbPath() string { return filepath.Join(n.dir, "queue.db") }

// Start opens the transport database (a new one if it is gone) and
// starts every part, as serve does after a restart.
func (n *Node) Start() error {
	cfg := n.cfg
	store, err := queue.Open(n.dbPath(), queue.Options{UnsafeNoSync: true})
	if err != nil {
		return err
	}
	t := cfg.Transport
	table := topology.RoutingTable(cfg)
	var mgr *queue.Manager
	// As serve: the shared state first (claims, the shadow recorder),
	// then the deliverer, the queue manager, and the shadow manager the
	// scheduler steps.
	claims := queue.NewFinalClaims(store)
	rec := shadow.NewRecorder(shadowstore.Store{M: &mgr}, nil, n.log)
	dc := delivery.Config{
		Topology: n.topo, LocalServer: cfg.Server.Name,
		Suspended: func(q string) bool { return mgr.IsSuspended(q) }, Hostname: cfg.Server.Name, Routing: table,
		SendConnectors: cfg.SendConnectors, Mailbox: cfg.Mailbox, ConnectTimeout: t.ConnectTimeout.D(),
		CommandTimeout: t.CommandTimeout.D(), DataTimeout: t.DataTimeout.D(),
		MaxConnectionsPerDestination: t.MaxConnectionsPerDestination, Log: n.log, MaxHopCount: t.MaxHopCount,
		ShadowServerID: cfg.Server.Name, Shadows: rec, Dedup: claims, Dial: n.net.Dialer(n.IP),
		ShadowRetriesRemote: t.MaxRetriesRemoteSiteShadow, ShadowRetriesLocal: t.MaxRetriesLocalSiteShadow,
	}
	if !t.ShadowRedundancyEnabled {
		// As serve: no new copy, but the copies held from before are
		// watched under this server's name (delivery WatchID).
		dc.ShadowServerID, dc.WatchID, dc.OwedPushID = "", cfg.Server.Name, cfg.Server.Name
	}
	del, err := delivery.New(dc)
	if err != nil {
		store.Close()
		return err
	}
	del.SetDatabaseID(store.DatabaseID()) // as serve: never relay to itself
	dump := dumpster.New(store, dumpster.Config{MaxSizePerDatabase: int64(t.MaxDumpsterSizePerDatabase),
		MaxTime: t.MaxDumpsterTime.D()}, dumpster.Options{Log: n.log})
	var sched []time.Duration
	for _, d := range t.RetrySchedule {
		sched = append(sched, d.D())
	}
	mgr = queue.NewManager(store, del, queue.ManagerConfig{
		Hostname: cfg.Server.Name, RetrySchedule: sched, RetryJitter: t.RetryJitter,
		MessageExpiration: t.MessageExpiration.D(), DelayNotification: t.DelayNotification.D(),
		MaxActive: t.MaxActive, PoisonThreshold: t.PoisonThreshold, Log: n.log,
		Dumpster: dump, DuplicateWindow: max(t.MessageExpiration.D(), t.MaxDumpsterTime.D()),
		BounceSizeLimit: int64(t.BounceSizeLimit), Events: eventLog{n.log}, Claims: claims,
		Scheduler: queue.SchedulerConfig{MaxWindow: t.MaxConnectionsPerDestination}, // the limit of a job naming none
	})
	shadows := shadow.New(shadow.Config{Timeout: t.ShadowHeartbeatTimeout.D(), Retries: t.ShadowHeartbeatRetryCount,
		CommandTimeout: t.CommandTimeout.D(), Log: n.log, Store: shadowstore.Store{M: &mgr},
		Heartbeater: del, Recorder: rec, Runner: mgr})
	if peers, err := mgr.ShadowPeers(); err == nil {
		for _, p := range peers {
			if p.Failures > 0 || p.TakenOver {
				del.MarkUnresponsive(p.Primary, p.Addr, p.LastTry)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, err := mgr.Recover(ctx); err != nil {
		cancel()
		store.Close()
		return fmt.Errorf("%s: recover: %w", n.Name, err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: cfg.Server.Name, Connectors: cfg.ReceiveConnectors,
		Routing: table, Queue: mgr, Log: n.log, Shadow: mgr, ShadowEnabled: t.ShadowRedundancyEnabled,
		AuthThrottle: cfg.AuthThrottle, Postmaster: cfg.Server.Postmaster, MaxHopCount: t.MaxHopCount,
		Listen: n.net.Listen})
	if err != nil {
		cancel()
		store.Close()
		return err
	}
	srv.SetServers(n.topo)
	if t.ShadowRedundancyEnabled {
		srv.SetReceiptShadow(delivery.NewReceiptShadow(del, store.DatabaseID())) // SR-17, as serve does
	}
	n.net.SetDown(n.IP, false)
	if err := srv.Listen(); err != nil {
		cancel()
		store.Close()
		return err
	}
	// The shadow manager runs whatever the switch says: it watches the
	// copies held here (sites49 F1); with none held it has nothing to do.
	mgr.Start(ctx, shadows)
	done := make(chan struct{})
	go func() {
		dump.Run(ctx)
		done <- struct{}{}
	}()
	srv.Serve()
	n.store, n.mgr, n.del, n.srv, n.shadows, n.cancel, n.done, n.up = store, mgr, del, srv, shadows, cancel, done, true
	n.dump = dump
	todo := n.afterStart
	n.afterStart = nil
	for _, f := range todo {
		f()
	}
	return nil
}

// Crash stops the server as kill -9 would: its connections break at
// once (no reply is written after this instant), nothing is drained, and
// the transport database keeps exactly what was committed. The
// goroutines of the dead instance are then run down (their network is
// gone, their database closed) so that the file can be opened again.
func (n *Node) Crash() {
	if !n.up {
		return
	}
	n.up = false
	n.net.SetDown(n.IP, true)
	n.cancel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.srv.Shutdown(ctx) // listeners and sessions: already cut off
	<-n.done
	n.mgr.Wait()
	n.del.Close()
	n.store.Close()
}

// LoseDisk crashes the server and removes its transport database: it
// starts again with a new database id.
func (n *Node) LoseDisk() {
	n.Crash()
	os.Remove(n.dbPath())
}

// Redeliver asks the server's transport dumpster for the copies it
// delivered into database since t (the operator's step after a mailbox
// database failed over to a lagging copy).
func (n *Node) Redeliver(id, database string, since time.Time) error {
	if !n.up {
		return fmt.Errorf("%s is down", n.Name)
	}
	_, _, err := n.dump.Redeliver(context.Background(), id, database, since)
	return err
}

// eventLog logs every message event at DEBUG (SIM_LOG=1 shows them).
type eventLog struct{ log *slog.Logger }

func (e eventLog) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	attrs := []any{"event", name, "msg_id", m.ID.String(), "org_id", m.OrgID}
	if r != nil {
		attrs = append(attrs, "rcpt", r.Addr, "next_hop", r.NextHop)
	} else {
		attrs = append(attrs, "from", m.From, "rcpts", len(m.Rcpts))
	}
	if reply != "" {
		attrs = append(attrs, "reply", reply)
	}
	e.log.Debug("message", attrs...)
}
