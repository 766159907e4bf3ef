package main

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/connfilter"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// connFiltering is what a receive connector's DNS lists and HELO checks
// share for the server's life: the resolver (and so its cache of list
// answers), the metrics and the rate limit of misconfiguration warnings.
type connFiltering struct {
	opt connfilter.Options
}

func newConnFiltering(res resolver.Resolver, reg prometheus.Registerer, clk clock.Clock, log *slog.Logger) *connFiltering {
	return &connFiltering{opt: connfilter.Options{Resolver: res, Log: log, Metrics: connfilter.NewMetrics(reg),
		Warnings: connfilter.NewLimiter(clk, time.Minute)}}
}

// checks returns the connection filtering checks of rc, in the order
// they run: DNS lists (connect), then HELO checks.
func (f *connFiltering) checks(rc config.ReceiveConnector) ([]smtp.Check, error) {
	if f == nil || !rc.ConnectionFiltering.Enabled() {
		return nil, nil
	}
	var out []smtp.Check
	cf := rc.ConnectionFiltering
	if len(cf.DNSBL.Lists) > 0 {
		d, err := connfilter.NewDNSBL(rc.Name, cf.DNSBL, f.opt)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	h := cf.HELO
	if h.Syntax != config.ActionOff || h.FCrDNS != config.ActionOff || h.MustResolve != config.ActionOff {
		c, err := connfilter.NewHELO(rc.Name, h, f.opt)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// reloaded forgets the state of the DNS lists the configuration now in
// force no longer asks (connfilter.Limiter.KeepLists): called at the
// start, with the lists in force, and once a reload has been applied,
// so that a reload that failed keeps it.
func (f *connFiltering) reloaded(cfg *config.Config) {
	if f != nil {
		f.opt.Warnings.KeepLists(cfg.ReceiveConnectors)
		f.opt.Metrics.KeepLists(cfg.ReceiveConnectors) // a removed list's series go with it
	}
}
