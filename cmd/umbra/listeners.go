package main

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"syscall"

	"umbra/internal/admin"
	"umbra/internal/config"
)

// probeListeners opens and closes at once every TCP address serve will
// listen on — the receive connectors' bindings, metrics, the console,
// the MTA-STS policy host — so that an address that is not this host's
// or that another process holds refuses the start before serve touches
// the data directory (no queue.db is left behind by a start that never
// ran). The real listeners open later, in the same process; a listener
// closed without a connection leaves nothing that holds the port.
// Each failure is blamed on its setting's line. The admin socket is
// probed with them: a process that answers on it refuses the start
// before the data directory is touched, too (admin.Listen checks again
// when it creates the socket).
func probeListeners(cfg *config.Config) error {
	return probeListenersOf(cfg, false)
}

// probeInUse is probeListeners reporting only the addresses another
// process holds (and the admin socket one answers on): what serve
// refuses besides what checkConfig refused, so that one start reports
// both (an address that is not this host's is checkConfig's already).
func probeInUse(cfg *config.Config) error {
	return probeListenersOf(cfg, true)
}

func probeListenersOf(cfg *config.Config, inUseOnly bool) error {
	const note = " (nothing was started; the data directory is untouched)"
	err := probe(cfg, nil, note, inUseOnly)
	if s := cfg.Server.AdminSocket; s != "" {
		// Another process answers, or the socket refuses this user
		// (another user's daemon may answer: admin.SocketFree).
		if serr := admin.SocketFree(s); serr != nil {
			var errs config.Errors
			if err != nil {
				errs = err.(config.Errors)
			}
			errs = append(errs, cfg.ErrorAt(fmt.Sprintf("server.admin_socket %v%s", serr, note), "server", "admin_socket"))
			sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
			return errs
		}
	}
	return err
}

// probeNewBindings is probeListeners for a reload: the receive
// connectors' bindings the running server does not hold yet (the only
// listeners a reload opens), so that one another process holds fails
// the reload at its line rather than with the bare bind error.
func probeNewBindings(cfg *config.Config, held []string) error {
	h := map[string]bool{}
	for _, a := range held {
		h[a] = true
	}
	return probe(cfg, func(l config.Listener) bool { return !l.Binding || h[l.Addr] }, "", false)
}

// probeNewBindingsInUse is probeNewBindings reporting only the bindings
// another process holds (probeInUse).
func probeNewBindingsInUse(cfg *config.Config, held []string) error {
	h := map[string]bool{}
	for _, a := range held {
		h[a] = true
	}
	return probe(cfg, func(l config.Listener) bool { return !l.Binding || h[l.Addr] }, "", true)
}

func probe(cfg *config.Config, skip func(config.Listener) bool, note string, inUseOnly bool) error {
	seen := map[string]bool{}
	var errs config.Errors
	for _, l := range cfg.Listeners() {
		if seen[l.Addr] || (skip != nil && skip(l)) {
			continue
		}
		seen[l.Addr] = true
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			if inUseOnly && !errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			errs = append(errs, l.Err(fmt.Sprintf("%s %s: %v%s", l.Setting, l.Addr, err, note)))
			continue
		}
		ln.Close()
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// orDefault is s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
