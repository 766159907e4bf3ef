package main

import (
	"log/slog"
	"net"
	"strconv"
	"strings"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
)

// forgetGoneServers drops the marks of servers that did not answer
// (queue.Health, listed as server:KEY by queue destinations) whose name
// or address the topology no longer has — a server removed, or the
// address a server had before it moved — and that no shadow copy waits
// for: nothing would ever clear them, and they would stay listed (rt18).
// Without a topology nothing is known to be gone and every mark stays.
// serve calls it at start and after a reload.
func forgetGoneServers(cfg *config.Config, h *queue.Health, peers []queue.ShadowPeer, log *slog.Logger) {
	if cfg.Topology == "" || h == nil {
		return
	}
	t, err := config.LoadTopology(cfg.Topology)
	if err != nil {
		return // serve refuses a topology it cannot read before this
	}
	known := map[string]bool{}
	for _, s := range t.Servers {
		known[s.Name], known[s.Address] = true, true
	}
	for _, p := range peers { // copies wait for them: heartbeats go there
		hostAddr, _, _ := strings.Cut(p.Addr, " via ")
		known[p.Primary], known[hostAddr] = true, true
	}
	smartHost := func(sh string, port int) {
		known[sh] = true
		if host, p, err := mailaddr.SplitHostPort(sh); err == nil && p == "" { // the one HOST[:PORT] reading
			if port == 0 {
				port = config.DefaultSMTPPort
			}
			known[net.JoinHostPort(host, strconv.Itoa(port))] = true
		}
	}
	for _, sc := range cfg.SendConnectors {
		for _, sh := range sc.SmartHosts {
			smartHost(sh, sc.Port)
		}
	}
	for _, sc := range t.SendConnectors {
		for _, sh := range sc.SmartHosts {
			smartHost(sh, 0)
		}
	}
	h.Forget(func(k string) bool {
		name := strings.TrimPrefix(strings.TrimPrefix(k, delivery.CopiesKeyPrefix), delivery.RefusedKeyPrefix) // a refusal of copies, of its contacts: its server's name
		if !known[name] {
			log.Info("server no longer in the topology: its unresponsive mark is dropped", "server", k)
			return false
		}
		return true
	})
}
