package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/config"
	"umbra/internal/httprefusal"
	"umbra/internal/mailaddr"
	"umbra/internal/metrics"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/tlspolicy"
)

// outboundTLS builds the destinations' TLS policy engine (DANE, MTA-STS)
// and the TLS-RPT counter from outbound_tls; nil when both policies are
// off. submit queues a report (the queue manager, set later).
func outboundTLS(cfg *config.Config, res resolver.Resolver, store *queue.Store, reg prometheus.Registerer, log *slog.Logger,
	submit tlspolicy.Submitter) (*tlspolicy.Engine, *tlspolicy.Counter, error) {
	o := cfg.OutboundTLS
	if !o.DANE && !o.MTASTS {
		return nil, nil, nil
	}
	dane := o.DANE
	if dane && !cfg.DNS.TrustAD {
		// Only the default reaches here: dane written as true without
		// trust_ad is refused by the configuration's check.
		log.Warn("outbound_tls.dane is not set (default: on where dns.trust_ad allows) and dns.trust_ad is off: DANE is off (for DANE set dns.trust_ad: true with a validating resolver on loopback, such as unbound)")
		dane = false
	}
	roots, err := outboundRoots(cfg)
	if err != nil {
		return nil, nil, cfg.Place(err)
	}
	var engine atomic.Pointer[tlspolicy.Engine] // set below; a scrape may come first
	cached := func() float64 {                  // policies in force only: expired entries stay in the store until refetched
		if e := engine.Load(); e != nil {
			return float64(e.CachedValid())
		}
		return 0
	}
	met := metrics.RegisterTLSPolicy(reg, cached)
	var counter *tlspolicy.Counter
	var rep tlspolicy.Reporter
	if o.TLSRPT.Enabled {
		counter = tlspolicy.NewCounter(tlspolicy.RPTConfig{Store: store, Resolver: res, Log: log.With("component", "tlsrpt"),
			Metrics: met, Submit: submit, OrgName: o.TLSRPT.Organization, Contact: o.TLSRPT.Contact, From: o.TLSRPT.From,
			Hostname: cfg.Server.Name})
		rep = counter
	} else {
		rep = metricsOnly{met}
	}
	eng := tlspolicy.New(tlspolicy.Config{Resolver: res, DANE: dane, MTASTS: o.MTASTS, RootCAs: roots,
		FetchTimeout: o.MTASTSFetchTimeout.D(), Store: store, Log: log.With("component", "tlspolicy"), Report: rep})
	engine.Store(eng)
	log.Info("outbound TLS policies", "dane", dane, "mta_sts", o.MTASTS, "tls_rpt", o.TLSRPT.Enabled)
	return eng, counter, nil
}

// outboundRoots is the one trust store of every certificate check this
// server makes of a next hop (a verify send connector or smart host, a
// relay or shadow copy to another transport server verified for
// REQUIRETLS, MTA-STS policy hosts and MX hosts): the system roots, the
// certificates of outbound_tls.ca_file, and the organisation CA each
// receive connector's tls.client_ca_file names — the CA that makes a
// client certificate a transport server's vouches for the same servers
// when this one connects to them. nil (the system roots alone) when no
// file is named. Each file is read now (start, reload, config check),
// a bad one refused at its setting's line; config check loads it
// whether or not a policy that uses it is on. DANE uses none of it: a
// TLSA record is its own trust anchor (RFC 7672).
func outboundRoots(cfg *config.Config) (*x509.CertPool, error) {
	type caFile struct {
		file    string
		setting []any
	}
	var files []caFile
	if f := cfg.OutboundTLS.CAFile; f != "" {
		files = append(files, caFile{f, []any{"outbound_tls", "ca_file"}})
	}
	for i, rc := range cfg.ReceiveConnectors {
		if f := rc.TLS.ClientCAFile; f != "" {
			files = append(files, caFile{f, []any{"receive_connectors", i, "tls", "client_ca_file"}})
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, f := range files {
		if err := config.AppendCAFile(roots, f.file, f.setting...); err != nil {
			return nil, err
		}
	}
	return roots, nil
}

// reloadRoots gives the policy engine (nil when DANE and MTA-STS are
// off) the trust store of the reloaded configuration next, as delivery
// got it (deliveryConfig). A store that no longer loads keeps the one
// in force (the reload's checks refused it first).
func reloadRoots(eng *tlspolicy.Engine, next *config.Config, log *slog.Logger) {
	if eng == nil {
		return
	}
	roots, err := outboundRoots(next)
	if err != nil {
		log.Error("the CA certificates of outbound TLS checks were not reloaded; those loaded before stay in force", "err", next.Place(err))
		return
	}
	eng.SetRoots(roots)
}

// metricsOnly counts results as metrics when TLS reports are off.
type metricsOnly struct{ m *metrics.TLSPolicy }

func (r metricsOnly) Result(_, policyType, _, result string) {
	if result == "" {
		result = "success"
	}
	r.m.TLSResult(policyType, result)
}

// runOutboundTLS refreshes cached MTA-STS policies, flushes the TLS-RPT
// counters each minute and sends the previous days' reports hourly,
// until ctx ends; then it flushes once more.
func runOutboundTLS(ctx context.Context, eng *tlspolicy.Engine, counter *tlspolicy.Counter, refresh time.Duration, log *slog.Logger) {
	flush := time.NewTicker(time.Minute)
	defer flush.Stop()
	ref := time.NewTicker(refresh)
	defer ref.Stop()
	reports := time.NewTicker(time.Hour)
	defer reports.Stop()
	send := func() {
		if counter == nil {
			return
		}
		if n, err := counter.SendDue(ctx); err != nil {
			log.Warn("tls reports", "err", err, "sent", n)
		}
	}
	send() // days a stopped daemon did not report
	for {
		select {
		case <-ctx.Done():
			if counter != nil {
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := counter.Flush(fctx); err != nil {
					log.Warn("tls report counters not stored", "err", err)
				}
				cancel()
			}
			return
		case <-flush.C:
			if counter != nil {
				if err := counter.Flush(ctx); err != nil {
					log.Warn("tls report counters not stored", "err", err)
				}
			}
		case <-ref.C:
			if n := eng.Refresh(ctx); n > 0 {
				log.Info("mta-sts policies refreshed", "count", n)
			}
		case <-reports.C:
			send()
		}
	}
}

// reportSubmitter queues a TLS report through the queue manager, keyed so
// that a report offered twice is queued once.
func reportSubmitter(mgr **queue.Manager, hostname string) tlspolicy.Submitter {
	return func(ctx context.Context, from string, to []string, body []byte, key string) error {
		m := *mgr
		if m == nil {
			return fmt.Errorf("queue not ready")
		}
		msg := &queue.Message{ID: m.NewID(), From: from, Connector: "tls-rpt", Helo: hostname,
			Internal:    true, // umbra wrote it: DKIM-signed (RFC 8460 §3 asks for a signature)
			EntersAlone: true} // written here, on this disk alone (queue enteredsingle.go)
		for _, r := range to {
			msg.Rcpts = append(msg.Rcpts, queue.Recipient{Addr: mailaddr.Canonical(r)}) // as RCPT would store it
		}
		_, _, err := m.SubmitKeyed(ctx, msg, body, key)
		return err
	}
}

// publishCertificate loads the certificate the MTA-STS policy is served
// with (serve, config check).
func publishCertificate(p config.MTASTSPublish) (tls.Certificate, error) {
	return config.LoadKeyPair(p.CertFile, p.KeyFile, []any{"outbound_tls", "mta_sts_publish", "cert_file"},
		[]any{"outbound_tls", "mta_sts_publish", "key_file"})
}

// publication is the MTA-STS policy cfg publishes: for the
// organisation's domains this server receives for, its authoritative
// and internal_relay accepted domains. An edge holds no authoritative
// domain (it has no mailbox store: its domains are internal_relay, the
// hubs hold the mailboxes), yet it is the server the domain's MX, and
// so mta-sts.<domain>, names. An external_relay domain is another
// organisation's, relayed for it: its policy is that organisation's to
// publish, never this server's.
func publication(cfg *config.Config) tlspolicy.Publication {
	p := cfg.OutboundTLS.Publish
	pub := tlspolicy.Publication{Mode: p.Mode, MX: p.MX, MaxAge: p.MaxAge.D()}
	for _, d := range cfg.AcceptedDomains {
		if d.Type == config.DomainAuthoritative || d.Type == config.DomainInternalRelay {
			pub.Domains = append(pub.Domains, d.Domain)
		}
	}
	return pub
}

// publishNothing warns, at mta_sts_publish.listen's line, when the
// policy would be published for no domain: every fetch would be
// answered 404 while the start's log says the policy is published.
func publishNothing(cfg *config.Config) []string {
	if len(publication(cfg).Domains) > 0 {
		return nil
	}
	return []string{warnAt(cfg, []any{"outbound_tls", "mta_sts_publish", "listen"},
		"outbound_tls.mta_sts_publish publishes the policy of no domain: no accepted domain is authoritative or internal_relay "+
			"(an external_relay domain's policy is its own organisation's to publish); every policy fetch is answered 404")}
}

// publishCoverage warns, at cert_file's line, of the published
// domains (publication) whose policy host (mta-sts.<domain>) cert does not name: every
// sender's fetch of their policy would fail. A warning, not an error:
// no mail is lost by it (senders keep a cached policy, else apply none,
// RFC 8461 §5), and refusing would keep a server from starting, or a
// reload from adding a domain, until that domain's certificate is
// issued — or where its policy host is served elsewhere.
func publishCoverage(cfg *config.Config, cert tls.Certificate) []string {
	un := publication(cfg).Uncovered(cert)
	if len(un) == 0 {
		return nil
	}
	return []string{warnAt(cfg, []any{"outbound_tls", "mta_sts_publish", "cert_file"},
		"outbound_tls.mta_sts_publish.cert_file %s does not name %s: a sender fetching the MTA-STS policy of that domain from this server fails "+
			"the certificate check and applies no policy", cfg.OutboundTLS.Publish.CertFile, strings.Join(un, ", "))}
}

// publishWarnings are publishCoverage's warnings for cfg's certificate
// (none when publishing is off, or the certificate does not load: that
// is an error, reported by its own step).
func publishWarnings(cfg *config.Config) []string {
	if cfg.OutboundTLS.Publish.Listen == "" {
		return nil
	}
	ws := append(publishNothing(cfg), publishMXNames(cfg)...)
	cert, err := publishCertificate(cfg.OutboundTLS.Publish)
	if err != nil {
		return ws
	}
	return append(ws, publishCoverage(cfg, cert)...)
}

// publishMTASTS serves this server's MTA-STS policy for its
// authoritative and internal_relay domains (publication;
// outbound_tls.mta_sts_publish); nil when off.
// A reload replaces its domains and certificate (reloadPublication).
func publishMTASTS(cfg *config.Config, log *slog.Logger) (*tlspolicy.Live, *http.Server, error) {
	p := cfg.OutboundTLS.Publish
	if p.Listen == "" {
		return nil, nil, nil
	}
	cert, err := publishCertificate(p)
	if err != nil {
		return nil, nil, cfg.Place(err)
	}
	pub := publication(cfg)
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("outbound_tls.mta_sts_publish: %w", err)
	}
	live := tlspolicy.NewLive(pub, cert)
	srv := live.Server()
	go live.Serve(srv, ln, httprefusal.New(tlspolicy.PublishRefusals, log, nil)) // net/http's own refusals logged (OPS-43 item 2)
	log.Info("publishing the MTA-STS policy", "listen", ln.Addr().String(), "mode", p.Mode, "domains", pub.Domains)
	for _, w := range publishCoverage(cfg, cert) {
		log.Warn("configuration", "warning", w)
	}
	return live, srv, nil
}

// reloadPublication serves next's published domains (publication) with the
// certificate its files now hold (renewed in place: the new one), and
// warns again of the policy hosts it does not name. The settings of
// outbound_tls themselves apply at a restart (next holds the running
// ones). A certificate that does not load keeps the one served (the
// reload's checks refuse it first).
func reloadPublication(live *tlspolicy.Live, next *config.Config, log *slog.Logger) {
	if live == nil || next.OutboundTLS.Publish.Listen == "" {
		return
	}
	cert, err := publishCertificate(next.OutboundTLS.Publish)
	if err != nil {
		log.Error("the MTA-STS policy's certificate was not reloaded; the one loaded before is served", "err", next.Place(err))
		return
	}
	live.Set(publication(next), cert)
	for _, w := range publishCoverage(next, cert) {
		log.Warn("configuration", "warning", w)
	}
}

// tlsReportsAPI is the TLS-RPT counter as the admin API sees it (umbra
// tls report).
type tlsReportsAPI struct{ c *tlspolicy.Counter }

func (a tlsReportsAPI) PendingAny(ctx context.Context, day string) (any, error) {
	return a.c.Pending(ctx, day)
}

func (a tlsReportsAPI) SendDay(ctx context.Context, day string) (int, error) {
	return a.c.SendDay(ctx, day)
}

// publishMXNames warns, at mta_sts_publish.mx's line, when the policy's
// mx list names none of this server's names (server.name, the name it
// answers as — its greeting, its EHLO —, which a domain's MX records
// name; a topology names it so too): a sender holding the policy takes
// this server for no MX of the domain — under enforce it sends it no
// mail, under testing it reports every delivery as failing. Compared as
// a sender compares (tlspolicy's MatchMX: exactly or by one *. label,
// without letter case or final dot). Mode none binds nothing: no
// warning. A warning, not an error: the policy may name the MX names
// that a load balancer or another name of this host answers as.
func publishMXNames(cfg *config.Config) []string {
	p := cfg.OutboundTLS.Publish
	if p.Listen == "" || p.Mode == tlspolicy.ModeNone || len(p.MX) == 0 || cfg.Server.Name == "" {
		return nil
	}
	pol := tlspolicy.STSPolicy{MX: make([]string, len(p.MX))}
	for i, mx := range p.MX {
		if rest, ok := strings.CutPrefix(mx, "*."); ok {
			pol.MX[i] = "*." + mailaddr.NameKey(rest)
		} else {
			pol.MX[i] = mailaddr.NameKey(mx)
		}
	}
	if pol.MatchMX(cfg.Server.Name) {
		return nil
	}
	what := "sends this server no mail for them"
	if p.Mode == tlspolicy.ModeTesting {
		what = "reports every delivery to this server as failing the policy"
	}
	return []string{warnAt(cfg, []any{"outbound_tls", "mta_sts_publish", "mx"},
		"outbound_tls.mta_sts_publish.mx names none of this server's names (server.name %s): a sender holding the %s policy of its domains "+
			"takes this server for no MX of theirs and %s; list the names the domains' MX records give this server",
		cfg.Server.Name, p.Mode, what)}
}
