package main

import (
	"umbra/internal/config"
)

// inertMXLimits names the send connectors with smart hosts whose
// mx_address_limit or mx_session_limit is set other than the default:
// the limits bound MX hosts only, and a smart host is the operator's, so
// the setting does nothing there (config check warns, as for any setting
// that would be silently inert).
func inertMXLimits(cfg *config.Config) []string {
	var out []string
	for i, sc := range cfg.SendConnectors {
		if len(sc.SmartHosts) == 0 {
			continue
		}
		if sc.MXAddressLimit != config.DefaultMXAddressLimit || sc.MXSessionLimit != config.DefaultMXSessionLimit {
			key := "mx_address_limit"
			if sc.MXAddressLimit == config.DefaultMXAddressLimit {
				key = "mx_session_limit"
			}
			out = append(out, warnAt(cfg, []any{"send_connectors", i, key}, "send connector %q: mx_address_limit and mx_session_limit bound MX hosts only; "+
				"this connector has smart_hosts, which are not bounded", sc.Name))
		}
	}
	return out
}
