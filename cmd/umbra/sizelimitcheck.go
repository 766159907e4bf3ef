package main

import (
	"fmt"
	"slices"

	"umbra/internal/config"
)

// sendLimitsBelowReceive names the send connectors whose
// max_message_size is below what a receive connector that may relay
// takes (README "What a size limit measures"): every limit holds the
// message as its sender sent it — umbra's trace fields, its
// Authentication-Results field, the CRs it put before bare LFs and the
// empty line it put after a header section are not counted —, so a send
// connector with the receive connector's limit passes every message the
// receive connector took, and one below it bounces, at routing, a
// message the receive connector answered 250 to. The largest limit of
// such a receive connector is named (none: no limit, any size).
func sendLimitsBelowReceive(cfg *config.Config) []string {
	var widest *config.ReceiveConnector
	for i := range cfg.ReceiveConnectors {
		rc := &cfg.ReceiveConnectors[i]
		p := rc.Permissions
		if !slices.Contains(p.Anonymous, "relay") && !slices.Contains(p.Authenticated, "relay") && !slices.Contains(p.Servers, "relay") {
			continue
		}
		if widest == nil || widest.Limits.MaxMessageSize > 0 && (rc.Limits.MaxMessageSize <= 0 || rc.Limits.MaxMessageSize > widest.Limits.MaxMessageSize) {
			widest = rc
		}
	}
	if widest == nil {
		return nil
	}
	var out []string
	for i, sc := range cfg.SendConnectors {
		if sc.MaxMessageSize <= 0 || widest.Limits.MaxMessageSize > 0 && sc.MaxMessageSize >= widest.Limits.MaxMessageSize {
			continue
		}
		took := "messages of any size"
		if widest.Limits.MaxMessageSize > 0 {
			took = fmt.Sprintf("messages of up to %d bytes", widest.Limits.MaxMessageSize)
		}
		out = append(out, warnAt(cfg, []any{"send_connectors", i, "max_message_size"},
			"send connector %q: max_message_size %d bytes is below what receive connector %q takes (%s, relaying): a larger message it accepts is bounced when routed to this connector "+
				"(both limits hold the message as its sender sent it, umbra's own header fields and line ends not counted)",
			sc.Name, sc.MaxMessageSize, widest.Name, took))
	}
	return out
}
