package main

import (
	"fmt"
	"io"
	"strings"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/mailaddr"
	"umbra/internal/routing"
)

// routeSelf is what delivery finds about the next hops of one explained
// recipient that leaves through a send connector: a host (an MX or a
// smart host) that is this server is not connected to, and when no
// other is left the mail loops back here. The running daemon answers
// (Deliverer.CheckSelf: its resolver, its bindings, the same lookups
// and rule as a delivery).
type routeSelf struct {
	Recipient string `json:"recipient"`
	Connector string `json:"connector"`
	delivery.SelfCheck
	Note string `json:"note,omitempty"`
}

// explainSelf asks the daemon about every route through a send
// connector. Only as this server: routed as another server (--server),
// this server's next hops are not that server's, and nothing is asked.
// client is the daemon whose configuration cfg is (explainConfig); nil,
// with why, when cfg is a file: nothing is asked. fileHosts, when not
// nil, gives a connector's smart hosts in a topology the daemon does not
// run (--topology FILE): the daemon checks those, by its bindings and
// resolver, not the smart hosts of the topology it runs (rt39 F1).
func explainSelf(client *admin.Client, why string, fileHosts func(connector string) []string, cfg *config.Config, server string, routes []routing.Route) []routeSelf {
	if server != cfg.Server.Name {
		return nil
	}
	var out []routeSelf
	for _, rt := range routes {
		if len(rt.NextHops) == 0 || rt.NextHops[0].Kind != routing.HopConnector {
			continue
		}
		s := routeSelf{Recipient: rt.Recipient, Connector: rt.NextHops[0].Connector}
		domain := mailaddr.DomainKey(rt.Recipient[strings.LastIndexByte(rt.Recipient, '@')+1:])
		if client == nil {
			s.Note = "next hops not checked against this server: " + why
		} else if fileHosts != nil {
			if err := client.SelfCheckHosts(s.Connector, domain, fileHosts(s.Connector), &s.SelfCheck); err != nil {
				s.Note = fmt.Sprintf("next hops of the topology file not checked against this server (the daemon looks them up): %v", err)
			} else if !s.HostsGiven {
				// A daemon of an older release: it checked the smart
				// hosts of the topology it runs, not the file's (rr ops39 F3).
				s.SelfCheck = delivery.SelfCheck{}
				s.Note = "next hops of the topology file not checked against this server: the daemon (an older release) checks only those of the topology it runs"
			}
			s.HostsGiven = false // said by the note, not in the explanation
		} else if err := client.SelfCheck(s.Connector, domain, &s.SelfCheck); err != nil {
			s.Note = fmt.Sprintf("next hops not checked against this server (the daemon looks them up): %v", err)
		}
		out = append(out, s)
	}
	return out
}

func printRouteSelf(out io.Writer, s routeSelf) {
	if s.Note != "" {
		fmt.Fprintf(out, "  this server: %s\n", s.Note)
	}
	if s.Self == "" {
		return
	}
	says := s.Says // delivery's own words, naming the address that matched
	if says == "" {
		says = "next hop " + s.Self + " is an address this server listens on"
	}
	fmt.Fprintf(out, "  this server: %s; not connected to\n", says)
	if len(s.Skipped) > 1 {
		fmt.Fprintf(out, "    skipped with it: %s\n", strings.Join(s.Skipped, " "))
	}
	switch {
	case s.Loops:
		fmt.Fprintf(out, "    loop: no other host is left, the mail would loop back to this server: %s\n", s.Reply)
	case s.Reply != "":
		fmt.Fprintf(out, "    no other host is left: %s\n", s.Reply)
	default:
		fmt.Fprintf(out, "    tried instead: %s\n", strings.Join(s.Tried, " "))
	}
}
