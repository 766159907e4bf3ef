package main

import (
	"fmt"
	"strings"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// receiptWithoutCandidates checks each receive connector's
// shadow_on_receipt against the servers the topology gives this server
// for it (routing's ShadowCandidates, as the copy on receipt chooses
// them): none for the preference (local-only on the only hub of its
// site, remote-only with no other site reachable, any of them without a
// topology) means no copy is ever made. With reject_on_shadow_failure
// every message would get 451 4.4.0 for ever: an error, refused by
// config check, serve and SIGHUP; without, every message is held on this
// server's disk alone: a warning of config check. Both at the
// connector's shadow_on_receipt line (rt21 F7). With shadow redundancy
// off organisation-wide, shadow_on_receipt does nothing: a warning.
func receiptWithoutCandidates(cfg *config.Config, topo *routing.Topology) (warnings []string, err error) {
	var errs config.Errors
	for i, rc := range cfg.ReceiveConnectors {
		if rc.ShadowOnReceipt == "" || rc.ShadowOnReceipt == config.ShadowOnReceiptOff {
			continue
		}
		if !cfg.Transport.ShadowRedundancyEnabled {
			// The receive side copies nothing then (and refuses nothing
			// for it): the setting is inert.
			warnings = append(warnings, cfg.ErrorAt(fmt.Sprintf("warning: receive connector %s: shadow_on_receipt: %s does nothing while "+
				"transport.shadow_redundancy_enabled is false: no shadow copy is made", rc.Name, rc.ShadowOnReceipt),
				"receive_connectors", i, "shadow_on_receipt").Error())
			continue
		}
		var same, other []*routing.Server
		where := "there is no topology"
		if topo != nil {
			same, other = topo.ShadowCandidates(cfg.Server.Name)
			where = "the topology " + config.ShownPath(cfg.Topology) + " gives this server no"
		}
		var none string
		switch rc.ShadowOnReceipt {
		case config.ShadowOnReceiptLocalOnly:
			if len(same) == 0 {
				none = "other hub in its site"
			}
		case config.ShadowOnReceiptRemoteOnly:
			if len(other) == 0 {
				none = "hub in another site it reaches"
			}
		case config.ShadowOnReceiptPreferRemote:
			if len(same) == 0 && len(other) == 0 {
				none = "other hub"
			}
		}
		if none == "" {
			continue
		}
		if topo == nil {
			none = "(no shadow server)"
		}
		msg := fmt.Sprintf("receive connector %s: shadow_on_receipt: %s, but %s %s: no shadow copy is ever made", rc.Name, rc.ShadowOnReceipt, where, none)
		e := cfg.ErrorAt(msg, "receive_connectors", i, "shadow_on_receipt")
		if rc.RejectOnShadowFailure {
			e.Msg += "; with reject_on_shadow_failure every message would be refused (451 4.4.0)"
			errs = append(errs, e)
			continue
		}
		e.Msg = "warning: " + e.Msg + ", every message is held on this server's disk alone"
		warnings = append(warnings, e.Error())
	}
	if len(errs) > 0 {
		return warnings, errs
	}
	return warnings, nil
}

// madeAgainWithoutHub warns when the topology gives this server, a
// transport server among others, no hub at all to make a shadow copy on
// (routing's ShadowCandidates, both lists empty): the copies it makes
// again (a shadow server back with a new transport database, a copy its
// holder's administrator removed or set aside) go only back to the
// server that lost them (delivery recopy.go, formerHolder), once it
// answers, and a message it took over has no shadow server at all.
// Until then a loss of this server's disk loses those messages (rt32a
// F1). An organisation of one server keeps no shadow copy: nothing to
// warn of. With shadow redundancy off nothing is copied: no warning.
func madeAgainWithoutHub(cfg *config.Config, topo *routing.Topology) []string {
	if topo == nil || !cfg.Transport.ShadowRedundancyEnabled || !topo.Transport(cfg.Server.Name) {
		return nil
	}
	if same, other := topo.ShadowCandidates(cfg.Server.Name); len(same)+len(other) > 0 {
		return nil
	}
	var others []string
	for _, n := range topo.TransportServers() {
		if s, ok := topo.Server(cfg.Server.Name); !ok || s.Name != n {
			others = append(others, n)
		}
	}
	if len(others) == 0 {
		return nil
	}
	return []string{cfg.ErrorAt(fmt.Sprintf("warning: the topology %s gives this server no other hub to keep shadow copies "+
		"(its other transport servers: %s): a copy it makes again — its shadow server back with a new transport database, or a copy "+
		"removed there — goes only back to the server that lost it, once that one answers, and a message it took over is never copied; "+
		"until then a loss of this server's disk loses those messages (umbra shadow single lists them); a second hub gives them a shadow server",
		config.ShownPath(cfg.Topology), strings.Join(others, ", ")), "topology").Error()}
}
