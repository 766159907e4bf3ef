package config

import (
	"fmt"
	"os"
	"strings"
	"umbra/internal/mailaddr"

	"gopkg.in/yaml.v3"
)

// CheckLocalStore checks, for a server with a topology, its own mailbox
// store (mailbox:) against the topology t (rt5 F2). The rule, the one
// routing.Topology.Route follows:
//
//   - An authoritative domain the topology's recipient map covers (an
//     entry for the domain, or a "*.domain" entry covering it) is routed
//     by the topology: to its mailbox database, through a hub of the
//     database's site when that is another site (RT-8). It needs no
//     store here.
//   - An authoritative domain the map does not cover is this server's
//     own: delivered into its mailbox store. The store is required then
//     (an error at the domain), and a warning at the domain says where
//     its mail goes. Addresses the map names one by one (and those the
//     directory assigns a database) stay the topology's.
//   - The store is the server's own, never a mailbox server or database
//     of the topology: mailbox.lmtp at the address of a server of the
//     topology, or mailbox.database named as one of its databases, would
//     deliver the organisation's mailboxes around the topology's route.
//     That is an error when the store is used, a warning when it is not.
//   - Such a domain cannot be validated by callout (no next hop to ask),
//     as without a topology.
//   - An edge sends accepted mail to the hubs of its site, authoritative
//     or not: its store is never used (a warning when one is set).
//
// Errors and warnings name the configuration file and line. err is
// Errors or nil; warnings are formatted as "file:line: warning: …".
func CheckLocalStore(c *Config, t *Topology) (warnings []string, err error) {
	if t == nil {
		return nil, nil
	}
	var doc *yaml.Node
	if c.File != "" {
		if data, rerr := os.ReadFile(c.File); rerr == nil {
			var root yaml.Node
			if yaml.Unmarshal(data, &root) == nil && len(root.Content) == 1 {
				doc = root.Content[0]
			}
		}
	}
	errs, warns := &validator{}, &validator{}
	m := c.Mailbox
	store := ""
	switch {
	case m.Maildir != "":
		store = "mailbox.maildir " + m.Maildir
	case m.LMTP != "":
		store = "mailbox.lmtp " + m.LMTP
	}
	used := false
	for i, d := range c.AcceptedDomains {
		if d.Type != DomainAuthoritative {
			continue
		}
		if c.Server.Role == "edge" || topologyMapsDomain(t, d.Domain) {
			continue
		}
		used = true
		if d.RecipientValidation == ValidationCallout {
			// As without a topology (validateRecipientValidation): the
			// store is here, a callout has no next hop to ask.
			errs.add(fmt.Sprintf("accepted domain %q is delivered into this server's own mailbox store (the topology maps no mailbox database for it): "+
				"a callout has no next hop to ask (use recipient_validation: directory or off, or map the domain in the topology)", d.Domain),
				"accepted_domains", i, "recipient_validation")
		}
		also := "only addresses its recipient map names one by one"
		if c.LDAP.DatabaseAttribute != "" {
			also += " or the directory assigns a database"
		}
		if store == "" {
			errs.add(fmt.Sprintf("accepted domain %q is authoritative, but the topology %s maps no mailbox database for it and this server has no mailbox store (mailbox.maildir or mailbox.lmtp): "+
				"map the domain to a database in the topology's recipients, or give this server a store of its own", d.Domain, t.File), "accepted_domains", i, "domain")
			continue
		}
		warns.add(fmt.Sprintf("accepted domain %q is authoritative, but the topology %s maps no mailbox database for it: its mail is delivered into this server's own mailbox store (%s, database %s), "+
			"not routed by the topology (%s); map the domain in the topology's recipients to route it to a mailbox server", d.Domain, t.File, store, m.Database, also), "accepted_domains", i, "domain")
	}
	if store == "" {
		return warningLines(c.File, doc, warns.out), violations(c.File, doc, errs.out)
	}
	if c.Server.Role == "edge" {
		warns.add("mailbox: is not used: with a topology an edge sends accepted mail to the hubs of its site", "mailbox")
		return warningLines(c.File, doc, warns.out), violations(c.File, doc, errs.out)
	}
	to := errs
	if !used {
		to = warns
	}
	if m.LMTP != "" {
		for _, s := range t.Servers {
			if strings.EqualFold(s.Address, m.LMTP) {
				to.add(fmt.Sprintf("mailbox.lmtp %s is the address of server %s of the topology: this server's own store cannot be a server of the topology, "+
					"which is reached by the topology's route (a mailbox server of another site through a hub of its site, RT-8); map the domains it holds to its databases in the topology's recipients",
					m.LMTP, s.Name), "mailbox", "lmtp")
			}
		}
	}
	for _, db := range t.MailboxDatabases {
		if strings.EqualFold(db.Name, m.Database) {
			to.add(fmt.Sprintf("mailbox.database %q is a mailbox database of the topology (on server %s): this server's own store needs a name of its own "+
				"(its queue, dumpster and duplicate record are per database name); to deliver into %s, map the domains to it in the topology's recipients",
				m.Database, db.Server, db.Name), "mailbox", "database")
		}
	}
	if !used && len(warns.out) == 0 {
		warns.add("mailbox: is not used: the topology maps every authoritative domain of this server to a mailbox database", "mailbox")
	}
	return warningLines(c.File, doc, warns.out), violations(c.File, doc, errs.out)
}

// topologyMapsDomain says whether the topology's recipient map covers
// every address of an accepted domain ("d" or "*.d"): an entry for the
// domain itself, or a "*.x" entry for a parent of it ("*.x" covers the
// subdomains of x, not x).
func topologyMapsDomain(t *Topology, domain string) bool {
	domain = mailaddr.NameKey(domain)
	wild := strings.HasPrefix(domain, "*.")
	for _, r := range t.Recipients {
		if len(r.Members) > 0 || strings.Contains(r.Match, "@") {
			continue // a group or one address
		}
		match := mailaddr.AddrKey(r.Match)
		switch {
		case match == domain:
			return true
		case strings.HasPrefix(match, "*."):
			suffix := match[1:] // ".x"
			name := domain
			if wild {
				name = domain[1:] // ".d": every subdomain of d is under .x when .d ends with .x
			}
			if strings.HasSuffix(name, suffix) {
				return true
			}
		}
	}
	return false
}

func warningLines(file string, doc *yaml.Node, vs []violation) []string {
	var out []string
	for _, v := range vs {
		e := &Error{File: file, Line: lineOf(doc, v.path), Msg: "warning: " + v.msg}
		out = append(out, e.Error())
	}
	return out
}

// topologyMapping is the entry of t's recipient map that covers every
// address of domain (topologyMapsDomain's rule); ok false when none.
func topologyMapping(t *Topology, domain string) (r TopoRecipients, ok bool) {
	for _, r := range t.Recipients {
		if topologyMapsDomain(&Topology{Recipients: []TopoRecipients{r}}, domain) {
			return r, true
		}
	}
	return TopoRecipients{}, false
}

// StoreLostAtReload refuses a reload that would take an authoritative
// domain the running topology (curT) maps to a mailbox database and
// deliver it, its queued mail too, into this server's own mailbox store
// — a store no user of that database reads (ops48 F3: `match: corp.tset`
// for `corp.test`, a one-character typo, was a WARN and the domain's
// mail went into the hub's own Maildir). The next topology (nextT, nil:
// the reload drops the topology) mapping it to no database is such a
// reload. Refused at the line of the next topology's recipients (of the
// configuration's topology key when it drops the topology), naming the
// domain and the mapping it loses; the running configuration stays. A
// restart applies such a file (a deliberate move of the domain to this
// server's store), with CheckLocalStore's warning. An edge delivers no
// domain into a store of its own.
func StoreLostAtReload(cur, next *Config, curT, nextT *Topology) error {
	if curT == nil || next.Server.Role == "edge" {
		return nil
	}
	running := map[string]bool{}
	for _, d := range cur.AcceptedDomains {
		if d.Type == DomainAuthoritative {
			running[mailaddr.NameKey(d.Domain)] = true
		}
	}
	store := "no mailbox store"
	switch {
	case next.Mailbox.Maildir != "":
		store = "mailbox.maildir " + next.Mailbox.Maildir
	case next.Mailbox.LMTP != "":
		store = "mailbox.lmtp " + next.Mailbox.LMTP
	}
	errs := &validator{}
	var lost []string
	for _, d := range next.AcceptedDomains {
		if d.Type != DomainAuthoritative || !running[mailaddr.NameKey(d.Domain)] {
			continue
		}
		was, ok := topologyMapping(curT, d.Domain)
		if !ok || nextT != nil && topologyMapsDomain(nextT, d.Domain) {
			continue
		}
		lost = append(lost, d.Domain)
		msg := fmt.Sprintf("accepted domain %q is mapped by the running topology %s to mailbox database %s (recipients: match %s), and this reload maps it to none: "+
			"its mail, the mail queued for it too, would be delivered into this server's own store (%s), which no mailbox server of the topology reads. "+
			"Refused; the running configuration stays. Map the domain in the topology's recipients again (a typo in a match?), or restart umbra to make this server the domain's store",
			d.Domain, ShownPath(curT.File), was.Database, was.Match, store)
		if nextT != nil {
			errs.add(msg, "recipients")
		} else {
			errs.add(msg, "topology")
		}
	}
	if len(lost) == 0 {
		return nil
	}
	if nextT != nil {
		return violations(nextT.File, nextT.doc, errs.out)
	}
	var doc *yaml.Node
	if data, err := os.ReadFile(next.File); err == nil {
		var root yaml.Node
		if yaml.Unmarshal(data, &root) == nil && len(root.Content) == 1 {
			doc = root.Content[0]
		}
	}
	return violations(next.File, doc, errs.out)
}
