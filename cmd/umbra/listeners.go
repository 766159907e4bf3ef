package main

import (
	"fmt"
	"net"

	"umbra/internal/config"
)

// probeListeners opens and closes at once every TCP address serve will
// listen on — the receive connectors' bindings, metrics, the console,
// the MTA-STS policy host — so that an address that is not this host's
// or that another process holds refuses the start before serve touches
// the data directory (no queue.db is left behind by a start that never
// ran). The real listeners open later, in the same process; a listener
// closed without a connection leaves nothing that holds the port.
func probeListeners(cfg *config.Config) error {
	type want struct{ addr, what string }
	var ws []want
	seen := map[string]bool{}
	for _, rc := range cfg.ReceiveConnectors {
		for _, b := range rc.Bindings {
			if !seen[b] {
				seen[b] = true
				ws = append(ws, want{b, fmt.Sprintf("receive connector %q binding", rc.Name)})
			}
		}
	}
	for _, w := range []want{{cfg.Server.MetricsListen, "server.metrics_listen"}, {cfg.Console.Listen, "console.listen"},
		{cfg.OutboundTLS.Publish.Listen, "outbound_tls.mta_sts_publish.listen"}} {
		if w.addr != "" && !seen[w.addr] {
			seen[w.addr] = true
			ws = append(ws, w)
		}
	}
	for _, w := range ws {
		ln, err := net.Listen("tcp", w.addr)
		if err != nil {
			return fmt.Errorf("%s %s: %w (nothing was started; the data directory is untouched)", w.what, w.addr, err)
		}
		ln.Close()
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
