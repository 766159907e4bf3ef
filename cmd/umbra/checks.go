package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/milter"
	"umbra/internal/msgauth"
	"umbra/internal/ratelimit"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// edgeChecks builds each receive connector's edge checks (the chain of
// internal/smtp filter.go) from the configuration being applied, at
// start and on every reload. State that must outlive a reload — rate
// counters, caches, connections to milters and directories — lives
// here, not in the checks a build returns.
type edgeChecks struct {
	cfg   atomic.Pointer[config.Config] // the configuration being applied
	guard *guard                        // the helper goroutines' panics (helperpanic.go)
	log   *slog.Logger
	reg   prometheus.Registerer
	clk   clock.Clock
	// dns is the server's resolver (the dns section), which message
	// authentication asks.
	dns     resolver.Resolver
	msgauth *msgauth.Metrics
	// rates are the rate limit counters of every connector (ratelimit.go).
	rates *ratelimit.Counters
	cf    *connFiltering // DNS lists and HELO checks (connfilter.go)
	// milterMetrics are registered once; the milter checks of every
	// build count into them.
	milterMetrics *milter.Metrics
}

func newEdgeChecks(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, clk clock.Clock) *edgeChecks {
	e := &edgeChecks{log: log, reg: reg, clk: clk, msgauth: msgauth.NewMetrics(reg), milterMetrics: milter.NewMetrics(reg)}
	e.rates = ratelimit.NewCounters(clk, reg)
	e.cfg.Store(cfg)
	return e
}

// ownDomain reports whether d (ASCII, lower case, no final dot) is one
// of the organisation's accepted domains as the configuration now in
// force lists them (config.OwnDomain).
func (e *edgeChecks) ownDomain(d string) bool { return e.cfg.Load().OwnDomain(d) }

// build is the smtp.CheckBuilder: the checks of one receive connector,
// in the order they run. Milters come last: the local checks refuse
// what they can before a milter is asked, and a milter sees the
// Authentication-Results header message authentication added.
func (e *edgeChecks) build(rc config.ReceiveConnector) ([]smtp.Check, error) {
	var checks []smtp.Check
	cf, err := e.cf.checks(rc)
	if err != nil {
		return nil, err
	}
	checks = append(checks, cf...)
	if rl, err := ratelimit.New(rc, e.rates); err != nil {
		return nil, err
	} else if rl != nil {
		checks = append(checks, rl)
	}
	if ma := rc.MessageAuthentication; ma.Enabled() {
		// SPF, DKIM, DMARC and ARC at the end of data (package msgauth).
		// Never the system's DNS behind umbra's resolver.
		if e.dns == nil {
			return nil, fmt.Errorf("receive connector %s: message_authentication needs the server's resolver", rc.Name)
		}
		mc := msgauth.New(ma, e.dns, e.log.With("check", "msgauth"), e.msgauth)
		mc.SetOwnDomains(e.ownDomain) // a From: name showing one is refused (rt24b F4)
		checks = append(checks, mc)
	}
	for _, mc := range rc.Milters {
		m, err := milter.New(mc, e.cfg.Load().Server.Name, e.log.With("connector", rc.Name), e.milterMetrics)
		if err != nil {
			return nil, err
		}
		if e.dns != nil {
			m.SetLookupHost(e.dns.LookupHost) // an inet: host name: the server's resolver, as every lookup
		}
		m.SetMaxLineLength(cmp.Or(rc.Limits.MaxLineLength, config.DefaultMaxLineLength)) // as a client's body
		m.SetMaxHeaderSize(int64(e.cfg.Load().Transport.MaxHeaderSize))                  // as a client's header section
		m.SetMaxMessageSize(int64(rc.Limits.MaxMessageSize))                             // as a client's message
		checks = append(checks, m)
	}
	return checks, nil
}
