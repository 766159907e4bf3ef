package main

import (
	"errors"
	"net"
	"slices"
	"sort"
	"strings"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
)

// queueNameChecker returns the admin API's check of a queue an operator
// names that holds no message now (a suspension ahead of maintenance):
// the name must be one the running configuration can produce.
//
//   - smarthost:NAME — NAME is a send connector with smart hosts
//     (configuration, or topology with this server among its source
//     servers);
//   - mailbox:DB — DB is the configured mailbox database or one of the
//     topology;
//   - submission, unreachable — every server's, as poison is;
//     directory while the directory assigns mailbox databases;
//   - dumpster:DB — the same databases (umbra dumpster lists each, at
//     0 when it keeps no copy); the message commands take it, the
//     queue actions refuse it (queue.CheckQueueAction);
//   - site:SITE[/…] — SITE is a site of the topology;
//   - shadow:SERVER, legacy:… — another hub or edge of the topology
//     (shadow:; never this server itself, nor a mailbox or legacy
//     server, which push no copies) or any well-formed list;
//   - redirect:HOST[:PORT] — a target queue redirect --to takes
//     (config.CheckHostPort);
//   - mx:DOMAIN — a well-formed domain name (letters, digits, hyphens,
//     two labels or more) while some send connector resolves MX. umbra
//     cannot know ahead of time which domains mail will go to, so a
//     well-formed domain may be held before its first message; a typo of
//     the domain itself is the operator's to see in `queue list`.
//
// cur returns the configuration in force (it changes on reload).
func queueNameChecker(cur func() *config.Config) func(name string) error {
	return func(name string) error {
		cfg := cur()
		kind, dest, _ := strings.Cut(name, ":")
		var valid []string
		var topo *config.Topology
		if cfg.Topology != "" {
			topo, _ = config.LoadTopology(cfg.Topology)
		}
		switch kind {
		case queue.QueuePoison, queue.QueueQuarantine, queue.QueueDamaged:
			// Queues of every server, empty or not: the message
			// commands' --queue takes them (what they hold is what
			// --state poison or quarantined gives, and the records
			// that do not decode), as the queue actions name them to
			// refuse them (rt39 F5; damaged: rr ops39 F4).
			if name == kind {
				return nil
			}
			valid = append(valid, kind)
		case "smarthost":
			for _, sc := range cfg.SendConnectors {
				if len(sc.SmartHosts) > 0 && !topoSmartHosts(topo, sc.Name) {
					valid = append(valid, "smarthost:"+sc.Name)
				}
			}
			if topo != nil {
				for _, sc := range topo.SendConnectors {
					// Only one this server sends through (a source
					// server of it): another's mail reaches it by the
					// site of its source, never a queue of its name
					// here, and a suspension of it held nothing (rt45
					// ops).
					if len(sc.SmartHosts) > 0 && sourceOf(sc.SourceServers, cfg.Server.Name) {
						valid = append(valid, "smarthost:"+sc.Name)
					}
				}
			}
		case "mailbox":
			valid = append(valid, "mailbox:"+cfg.Mailbox.Database)
			if topo != nil {
				for _, d := range topo.MailboxDatabases {
					valid = append(valid, "mailbox:"+d.Name)
				}
			}
		case queue.QueueSubmission, "unreachable":
			// Queues of every server too: mail before its first
			// attempt, and mail no connector or route reaches, which
			// waits there in retry (queue.DeliveryType).
			if name == kind {
				return nil
			}
			valid = append(valid, kind)
		case "directory":
			// Mail waiting for the directory to assign its mailbox
			// database: a queue while the directory assigns them.
			if cfg.Topology != "" && cfg.LDAP.DatabaseAttribute != "" {
				if name == kind {
					return nil
				}
				valid = append(valid, kind)
			}
		case "dumpster":
			// The dumpster of each mailbox database the configuration
			// names, as umbra dumpster lists it (at 0 when it keeps no
			// copy): a queue found empty, not a typo. One keeping
			// copies is a queue anyway (queue.Manager.Queues).
			valid = append(valid, "dumpster:"+cfg.Mailbox.Database)
			if topo != nil {
				for _, d := range topo.MailboxDatabases {
					valid = append(valid, "dumpster:"+d.Name)
				}
			}
		case "site":
			if topo != nil {
				site, _, _ := strings.Cut(dest, "/")
				for _, s := range topo.Sites {
					if s.Name == site {
						return nil
					}
					valid = append(valid, "site:"+s.Name)
				}
			}
		case "shadow":
			if topo != nil {
				// The queue keeps a primary's shadow queue under its
				// folded name (queue/primaryfold.go): any spelling of a
				// server of the topology names it.
				for _, s := range topo.Servers {
					// A primary: another hub or edge. This server keeps
					// no copy for itself, and a mailbox or legacy
					// server pushes none (rt45 ops: both were offered,
					// and a suspension of either taken).
					if mailaddr.NameKey(s.Name) == mailaddr.NameKey(cfg.Server.Name) || s.Role != "hub" && s.Role != "edge" {
						continue
					}
					v := queue.CanonicalQueueName("shadow:" + s.Name)
					if v == queue.CanonicalQueueName(name) {
						return nil
					}
					valid = append(valid, v)
				}
			} else if wellFormedHost(dest) {
				return nil
			}
		case "legacy":
			if dest != "" && !strings.ContainsAny(dest, " \t\r\n") {
				return nil
			}
		case "redirect":
			if config.CheckHostPort(dest) == nil { // as queue redirect --to checks its target
				return nil
			}
			valid = append(valid, "redirect:HOST[:PORT]")
		case "mx":
			mx := false
			for _, sc := range cfg.SendConnectors {
				mx = mx || len(sc.SmartHosts) == 0 && !topoSmartHosts(topo, sc.Name)
			}
			if topo != nil {
				for _, sc := range topo.SendConnectors {
					mx = mx || len(sc.SmartHosts) == 0
				}
			}
			if mx && wellFormedDomain(dest) {
				return nil
			}
			if mx {
				valid = append(valid, "mx:DOMAIN (a well-formed domain name)")
			}
		}
		for _, v := range valid {
			if v == name {
				return nil
			}
		}
		if !slices.Contains(queueKinds, kind) {
			// An unknown kind (a typo of it): every name the
			// configuration can produce is valid.
			check := queueNameChecker(cur)
			for _, k := range queueKinds {
				var ue *queue.UnknownNameError
				if errors.As(check(k+":"), &ue) {
					valid = append(valid, ue.Valid...)
				}
			}
		}
		sort.Strings(valid)
		return &queue.UnknownNameError{Kind: "queue", Name: name, Valid: valid}
	}
}

// sourceOf reports whether server is among a topology send connector's
// source servers.
func sourceOf(sources []string, server string) bool {
	for _, s := range sources {
		if mailaddr.NameKey(s) == mailaddr.NameKey(server) {
			return true
		}
	}
	return false
}

// queueKinds are the kinds of queue queueNameChecker knows.
var queueKinds = []string{"smarthost", "mailbox", "site", "shadow", "legacy", "redirect", "mx", "dumpster", queue.QueueSubmission, "unreachable", "directory", queue.QueuePoison, queue.QueueQuarantine, queue.QueueDamaged}

// wellFormedDomain reports whether s is a domain name of two labels or
// more, each of letters, digits and inner hyphens, at most 63 octets,
// the last not all digits.
func wellFormedDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false // one label, or an all-digit top label (no domain has one)
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// wellFormedHost is a host name or an IP address (config.IsHost; a
// single label, localhost, is a host name too), an IPv6 one also in
// brackets.
func wellFormedHost(s string) bool {
	return net.ParseIP(strings.Trim(s, "[]")) != nil || config.IsHost(s)
}

// topoSmartHosts reports whether topo has a send connector name with
// smart hosts: a configured connector of that name without smart_hosts
// inherits them (delivery.InheritTopology), so its queue is
// smarthost:NAME, not an MX queue.
func topoSmartHosts(topo *config.Topology, name string) bool {
	if topo == nil {
		return false
	}
	for _, sc := range topo.SendConnectors {
		if sc.Name == name && len(sc.SmartHosts) > 0 {
			return true
		}
	}
	return false
}
