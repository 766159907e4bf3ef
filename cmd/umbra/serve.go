package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/metrics"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/systemd"
	"umbra/internal/tracking"
)

// drainTimeout bounds how long SIGTERM waits for sessions in a mail
// transaction and for delivery attempts to finish.
const drainTimeout = 30 * time.Second

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the umbra daemon (the embedded default configuration without --config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return &exitError{code: exitConfig, err: err}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := serve(ctx, cfg, stop); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	return cmd
}

func newLogger(cfg config.Server) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// serve is the composition root: it builds every part from the
// configuration, runs them until ctx ends, and drains them in order.
func serve(ctx context.Context, cfg *config.Config, stopSignals func()) error {
	log := newLogger(cfg.Server)
	if err := os.MkdirAll(cfg.Server.DataDir, 0o750); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	met := metrics.New(reg)

	store, err := queue.Open(filepath.Join(cfg.Server.DataDir, "queue.db"), queue.Options{Observer: met})
	if err != nil {
		return err
	}
	defer store.Close()
	metrics.RegisterQueues(reg, func() (qs []queue.QueueStats, err error) {
		err = store.View(func(tx *queue.Tx) error { qs = tx.Queues(); return nil })
		return qs, err
	})
	log.Info("transport database open", "path", filepath.Join(cfg.Server.DataDir, "queue.db"), "database_id", store.DatabaseID())

	var events queue.Events = eventLog{log: log.With("component", "queue"), next: met}
	var tracker admin.Tracker
	if cfg.Tracking.Enabled {
		tl, err := tracking.Open(cfg.Tracking.Path, int64(cfg.Tracking.MaxSize), cfg.Tracking.MaxFiles)
		if err != nil {
			return fmt.Errorf("tracking log: %w", err)
		}
		defer tl.Close()
		events, tracker = fanout{events, tl}, tl
	}

	table := routingTable(cfg)
	t := cfg.Transport
	var mgr *queue.Manager
	del, err := delivery.New(delivery.Config{
		Suspended: func(name string) bool { return mgr.IsSuspended(name) },
		Hostname:  cfg.Server.Name, Routing: table, SendConnectors: cfg.SendConnectors, Mailbox: cfg.Mailbox,
		ConnectTimeout: t.ConnectTimeout.D(), CommandTimeout: t.CommandTimeout.D(), DataTimeout: t.DataTimeout.D(),
		MaxConnectionsPerDestination: t.MaxConnectionsPerDestination, Log: log.With("component", "delivery"),
	})
	if err != nil {
		return err
	}
	defer del.Close()

	var schedule []time.Duration
	for _, d := range t.RetrySchedule {
		schedule = append(schedule, d.D())
	}
	mgr = queue.NewManager(store, del, queue.ManagerConfig{
		Hostname: cfg.Server.Name, RetrySchedule: schedule, RetryJitter: t.RetryJitter,
		MessageExpiration: t.MessageExpiration.D(), DelayNotification: t.DelayNotification.D(),
		MaxActive: t.MaxActive, PoisonThreshold: t.PoisonThreshold,
		Log: log.With("component", "queue"), Events: events,
	})
	recovered, poisoned, err := mgr.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recovering the queue: %w", err)
	}
	if recovered+poisoned > 0 {
		log.Warn("recovered messages that were in flight at the last stop", "recovered", recovered, "poisoned", poisoned)
	}

	adm, err := admin.Listen(cfg.Server.AdminSocket, mgr, tracker, admin.Status{Server: cfg.Server.Name, Role: cfg.Server.Role,
		Version: version, DatabaseID: store.DatabaseID(), Started: time.Now()}, log.With("component", "admin"))
	if err != nil {
		return err
	}
	go adm.Serve()
	defer adm.Shutdown(context.Background())

	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: cfg.Server.Name, Connectors: cfg.ReceiveConnectors,
		Routing: table, Queue: mgr, Log: log.With("component", "smtp"), Observer: met})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}

	var metricsSrv *http.Server
	if cfg.Server.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.Server.MetricsListen)
		if err != nil {
			srv.Shutdown(context.Background())
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go metricsSrv.Serve(ln)
	}

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	mgr.Start(runCtx)
	srv.Serve()
	var addrs []string
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	log.Info("umbra ready", "server", cfg.Server.Name, "role", cfg.Server.Role, "listen", addrs, "version", version)
	if _, err := systemd.Notify("READY=1"); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}

	// Reloading the configuration in place is not implemented yet: SIGHUP
	// must not end the daemon (Go's default), so it is caught and refused.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			log.Warn("SIGHUP ignored: configuration reload is not supported yet; restart umbra to apply changes")
		}
	}()

	<-ctx.Done()
	// A second signal during the drain ends the process at once.
	stopSignals()
	log.Info("draining: no new sessions; finishing transactions and deliveries", "timeout", drainTimeout)
	systemd.Notify("STOPPING=1")
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	srv.Shutdown(drainCtx)
	cancelRun()
	mgr.Wait()
	if metricsSrv != nil {
		metricsSrv.Shutdown(drainCtx)
	}
	log.Info("stopped")
	return nil
}

func routingTable(cfg *config.Config) *routing.Table {
	var domains []routing.AcceptedDomain
	for _, d := range cfg.AcceptedDomains {
		typ := map[string]routing.DomainType{config.DomainAuthoritative: routing.Authoritative,
			config.DomainInternalRelay: routing.InternalRelay, config.DomainExternalRelay: routing.ExternalRelay}[d.Type]
		domains = append(domains, routing.AcceptedDomain{Domain: d.Domain, Type: typ})
	}
	var conns []routing.Connector
	for _, sc := range cfg.SendConnectors {
		c := routing.Connector{Name: sc.Name, Enabled: sc.IsEnabled()}
		for _, as := range sc.AddressSpaces {
			c.AddressSpaces = append(c.AddressSpaces, routing.AddressSpace{Domain: as.Domain, Cost: as.Cost})
		}
		conns = append(conns, c)
	}
	return routing.NewTable(domains, conns)
}

// eventLog writes one log line per message event with fixed keys, then
// passes the event on (metrics).
type eventLog struct {
	log  *slog.Logger
	next queue.Events
}

func (e eventLog) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	attrs := []any{"event", name, "msg_id", m.ID.String()}
	if r != nil {
		attrs = append(attrs, "rcpt", r.Addr, "next_hop", r.NextHop)
	} else {
		attrs = append(attrs, "from", m.From, "rcpts", len(m.Rcpts), "size", m.Size, "connector", m.Connector)
		if m.ClientIP != "" {
			attrs = append(attrs, "client_ip", m.ClientIP)
		}
	}
	if reply != "" {
		attrs = append(attrs, "reply", reply)
	}
	e.log.Info("message", attrs...)
	e.next.Event(name, m, r, reply)
}

// fanout passes every event to each of its receivers in order.
type fanout []queue.Events

func (f fanout) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	for _, e := range f {
		e.Event(name, m, r, reply)
	}
}
