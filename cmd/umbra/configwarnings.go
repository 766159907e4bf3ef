package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/routing"
)

// configWarnings is the one list of warnings of a configuration: what
// config check prints for it and the daemon logs at its start and at a
// reload that changes it (warnedConfig). ct is the topology as loaded
// (nil: none), rt routing's snapshot of it with the servers' host names
// resolved; r looks up smart hosts given by name (config check: the
// server's resolver, bounded by ctx; the daemon: noDNS, so that no
// lookup delays a start or a reload — delivery finds such a host at each
// attempt).
func configWarnings(ctx context.Context, cfg *config.Config, ct *config.Topology, rt *routing.Topology, r delivery.Resolver) []string {
	ws := append(unusedSendConnectors(cfg, ct), heartbeatUnderThrottle(cfg, ct)...)
	ws = append(ws, configSlips(cfg)...)
	ws = append(ws, cfg.EmptyFilesOff()...) // a file setting written "": what it turns off
	ws = append(ws, publishWarnings(cfg)...)
	ws = append(ws, signingToOwnServers(cfg, ct)...)
	ws = append(ws, orgIDNotCarried(cfg, ct)...)
	ws = append(ws, shadowLoginNotServerID(cfg)...)
	ws = append(ws, requireTLSDSNsUndeliverable(cfg, ct)...)
	ws = append(ws, smartHostsThatAreTopologyServers(cfg, ct, rt)...)
	ws = append(ws, config.ShadowListenerWarnings(cfg, ct)...) // its topology address offers no XSHADOW
	ws = append(ws, smartHostsThatAreThisServer(ctx, cfg, r)...)
	ws = append(ws, topologySmartHostsThatAreThisServer(ctx, cfg, ct, rt, r)...)
	ws = append(ws, outgoingSourcesOutsideTopology(ctx, cfg, rt, r)...)
	ws = append(ws, translatedWithoutSourceAddresses(cfg, ct)...) // behind translation, known by no address of its own
	ws = append(ws, inertMXLimits(cfg)...)
	ws = append(ws, sendLimitsBelowReceive(cfg)...)
	ws = append(ws, consoleOnSMTPAccounts(cfg)...)
	receipt, _ := receiptWithoutCandidates(cfg, rt) // its errors refuse the file (checkConfig)
	ws = append(ws, receipt...)
	ws = append(ws, madeAgainWithoutHub(cfg, rt)...)
	if store, err := localStoreCheck(cfg); err == nil { // its error refuses the file (serverTopology)
		ws = append(ws, store...)
	}
	return ws
}

// warnedConfig paces the daemon's configuration warnings: the start logs
// every one; a reload logs the whole list again only when it differs
// from the one logged last (a warning added or gone), and otherwise says
// in one line that the warnings logged before still stand, so that a
// reload of an unchanged file does not repeat them at every SIGHUP.
type warnedConfig struct {
	mu   sync.Mutex
	last []string
	once bool
}

// log logs ws as the daemon's configuration warnings (start: the first
// call) or as a reload's.
func (w *warnedConfig) log(log *slog.Logger, ws []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.once && slices.Equal(w.last, ws) {
		if len(ws) > 0 {
			log.Info("configuration warnings unchanged: those logged before stand (umbra config check prints them)", "warnings", len(ws))
		}
		return
	}
	if w.once && len(ws) == 0 {
		log.Info("configuration warnings: none now (those logged before are gone)")
	}
	for _, m := range ws {
		log.Warn("configuration", "warning", m)
	}
	w.last, w.once = slices.Clone(ws), true
}
