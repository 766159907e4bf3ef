package config

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"umbra/internal/mailaddr"

	"gopkg.in/yaml.v3"
)

// Topology is the organisation's topology file: sites, servers, links,
// connectors and databases. Every umbra server of the organisation reads
// the same one.
type Topology struct {
	Sites                  []TopoSite          `yaml:"sites"`
	SiteLinks              []TopoSiteLink      `yaml:"site_links"`
	Servers                []TopoServer        `yaml:"servers"`
	MailboxDatabases       []TopoDatabase      `yaml:"mailbox_databases"`
	Recipients             []TopoRecipients    `yaml:"recipients"`
	SendConnectors         []TopoSendConnector `yaml:"send_connectors"`
	RoutingGroupConnectors []TopoRGConnector   `yaml:"routing_group_connectors"`

	File   string `yaml:"-"`
	Source []byte `yaml:"-"` // the text parsed (ParseTopology)

	doc *yaml.Node // the file's nodes, for ErrorAt's line numbers
	// refusedVersion are the servers (by index) whose version is
	// refused at its line (written 0, or out of range): a check that
	// compares versions takes none of them for version 1 and blames no
	// other server's line for it (topologyRules' hubOf).
	refusedVersion map[int]bool
}

// ErrorAt is msg as an Error at the line of the setting at path (map
// keys and list indexes) in the topology file: for checks made outside
// this package (cmd's warnings), as Config.ErrorAt.
func (t *Topology) ErrorAt(msg string, path ...any) *Error {
	return &Error{File: t.File, Line: lineOf(t.doc, path), Msg: msg}
}

// TopoSite is a well-connected network location.
type TopoSite struct {
	Name    string   `yaml:"name"`
	Subnets []string `yaml:"subnets"`
	HubSite bool     `yaml:"hub_site"`
}

// TopoSiteLink joins sites at a cost.
type TopoSiteLink struct {
	Name           string   `yaml:"name"`
	Sites          []string `yaml:"sites"`
	Cost           int      `yaml:"cost"`
	UmbraCost      int      `yaml:"umbra_cost"`
	MaxMessageSize Size     `yaml:"max_message_size"`
}

// TopoServer is a server of the organisation.
type TopoServer struct {
	Name         string `yaml:"name"`
	Role         string `yaml:"role"` // hub, edge, mailbox, legacy
	Site         string `yaml:"site"` // empty: by address and subnets
	Version      int    `yaml:"version"`
	Address      string `yaml:"address"` // host:port (SMTP; LMTP for mailbox servers)
	RoutingGroup string `yaml:"routing_group"`
	// SourceAddresses are the addresses (IP or CIDR prefix) the server's
	// outgoing connections come from, besides the host of Address: a
	// shadow session on an externally secured connector may claim this
	// server's id only from one of them (issue 19 defect 10).
	SourceAddresses []string `yaml:"source_addresses"`
}

// TopoDatabase is a mailbox database.
type TopoDatabase struct {
	Name   string `yaml:"name"`
	Server string `yaml:"server"`
}

// TopoRecipients maps an address, a domain or "*.domain" to a database.
type TopoRecipients struct {
	Match    string `yaml:"match"`
	Database string `yaml:"database"`
	// Addresses are the mailboxes of a domain or *.domain entry: they
	// are known recipients for recipient validation (an entry whose match
	// is an address is one itself). Optional; they do not change routing.
	Addresses []string `yaml:"addresses"`
	// Members make the entry (an address) an expansion group instead of a
	// mailbox: a hub of ExpansionSite replaces it by its members, which
	// are then routed in their turn. Groups may contain groups, not
	// themselves.
	Members       []string `yaml:"members"`
	ExpansionSite string   `yaml:"expansion_site"`
}

// TopoSendConnector is an organisation send connector.
type TopoSendConnector struct {
	Name           string         `yaml:"name"`
	AddressSpaces  []AddressSpace `yaml:"address_spaces"`
	SourceServers  []string       `yaml:"source_servers"`
	Scope          string         `yaml:"scope"` // organisation (default) or site
	SmartHosts     []string       `yaml:"smart_hosts"`
	MaxMessageSize Size           `yaml:"max_message_size"`
	Enabled        *bool          `yaml:"enabled"`
}

// TopoRGConnector joins two routing groups ("modern" is the group of every
// non-legacy server).
type TopoRGConnector struct {
	Name   string   `yaml:"name"`
	Groups []string `yaml:"groups"`
	// Cost is 1 to 100; absent means DefaultRGCCost (1), a written 0 is refused.
	Cost           int      `yaml:"cost"`
	MaxMessageSize Size     `yaml:"max_message_size"`
	SourceServers  []string `yaml:"source_servers"`
}

// LoadTopology reads and checks a topology file; errors give file:line,
// graph-wide ones too (a site no link reaches, a legacy routing group no
// connector joins). A file it accepts is one routing accepts.
func LoadTopology(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTopology(data, path)
}

// ParseTopology is LoadTopology on bytes.
func ParseTopology(data []byte, file string) (*Topology, error) {
	t := &Topology{}
	doc, left, err := decodeAll(data, file, t)
	if err != nil {
		return nil, err
	}
	t.File, t.doc, t.Source = file, doc, data
	var zeros []explicitZero
	walkZeros(doc, reflect.ValueOf(t).Elem(), nil, "", &zeros)
	// An empty value whose preset was kept is refused at its line by
	// emptyTopoValues, once.
	zeros = slices.DeleteFunc(zeros, func(z explicitZero) bool { return z.kept })
	dups := append(append(zeroCosts(zeros), zeroSizes(zeros)...), canonicalTopologyNames(t)...)
	for i := range t.SendConnectors {
		for j := range t.SendConnectors[i].AddressSpaces {
			a := &t.SendConnectors[i].AddressSpaces[j]
			a.Domain = withoutFinalDot(a.Domain) // as the configuration's (defaults.go)
		}
	}
	t.refusedVersion = map[int]bool{}
	for i, s := range t.Servers {
		if s.Version < 0 || s.Version > MaxTopoVersion {
			t.refusedVersion[i] = true
		}
	}
	empties := emptyTopoValues(t, zeros)
	vs := append(dups, validateTopology(t)...)
	vs = append(vs, apartFrom(doc, empties, vs)...)
	if len(left.errs) > 0 {
		// Values that do not decode were left out; the rest is
		// validated as a whole file is, so that every error of the
		// topology comes in one run (rt33c F9: an unknown key hid an
		// unknown role two lines below), as the configuration's do.
		return nil, left.withViolations(file, doc, vs)
	}
	if err := violations(file, doc, vs); err != nil {
		return nil, err
	}
	return t, nil
}

// emptyTopoValues refuses every key of the topology written empty — ""
// or a YAML null — and a server's version written 0 (opsrt40 F2, F3):
// none is a setting of its own, and each read as the key left out (a
// send connector's scope: "" made a site-scoped connector
// organisation-wide, a server's site: "" had its site found by
// address, version: 0 was version 1), silently. The costs and sizes
// are zeroCosts' and zeroSizes'.
func emptyTopoValues(t *Topology, zs []explicitZero) []violation {
	var vs []violation
	for _, z := range zs {
		key := z.name[strings.LastIndexByte(z.name, '.')+1:]
		switch {
		case key == "version" && z.written == "0":
			if i, ok := z.path[1].(int); ok {
				t.refusedVersion[i] = true
			}
			vs = append(vs, violation{path: z.path, msg: fmt.Sprintf("%s: 0 is refused: a version is 1 to %d; without the key the version is 1", z.name, MaxTopoVersion)})
			continue
		case z.written != `""` && z.written != "an empty value",
			key == "cost" || key == "umbra_cost" || key == "max_message_size":
			continue
		}
		without := topoEmptyWithout[key]
		if without == "" {
			without = "write a value, or leave the key out"
		}
		said := z.written + " is empty"    // `""`
		if z.written == "an empty value" { // a YAML null: the key with nothing after it
			said = "the key has no value"
		}
		vs = append(vs, violation{path: z.path, msg: fmt.Sprintf("%s: %s: %s", z.name, said, without)})
	}
	return vs
}

// topoEmptyWithout says, for a topology key written empty, what to
// write instead (emptyTopoValues).
var topoEmptyWithout = map[string]string{
	"scope":            "write organisation or site, or leave the key out",
	"site":             "write the server's site, or leave the key out (its site is then the one whose subnets hold its address)",
	"routing_group":    "write the legacy server's routing group, or leave the key out for a server of umbra's (the modern group)",
	"enabled":          "write true or false, or leave the key out (enabled)",
	"smart_hosts":      "list the smart hosts, or leave the key out (MX lookup)",
	"source_addresses": "list the addresses, or leave the key out (only the host of address)",
}

// apartFrom is those of extra at a line no violation of vs is at: an
// empty value another check already refuses at its line ("server needs
// a name") is told once.
func apartFrom(doc *yaml.Node, extra, vs []violation) []violation {
	lines := map[int]bool{}
	for _, v := range vs {
		lines[lineOf(doc, v.path)] = true
	}
	var out []violation
	for _, e := range extra {
		if !lines[lineOf(doc, e.path)] {
			out = append(out, e)
		}
	}
	return out
}

// canonicalTopologyNames writes every reference to a server of t (a
// database's server, a source server, a bridgehead) as the server is
// defined, its letter case and final dot aside (a server name is a host
// name), and every reference to a site (a server's, a site link's, an
// expansion site) as the site is defined, its letter case aside (rt51
// F9). Validation, routing, shadow peers and the CLI then compare one
// string, the spelling the operator defined (queue names such as
// shadow:NAME and stored shadow records keep it). It returns, at the second
// definition's line, a server or site defined twice in two spellings;
// such a definition keeps its spelling, so that no other check takes
// the two for one. A name defined twice in one spelling is reported by
// validateTopology.
func canonicalTopologyNames(t *Topology) []violation {
	v := &validator{}
	serverKey := map[string]string{}
	for i := range t.Servers {
		s := &t.Servers[i]
		k := mailaddr.NameKey(s.Name)
		if prev, dup := serverKey[k]; dup {
			if prev != s.Name {
				v.add(fmt.Sprintf("server %q differs from server %q only in letter case or final dot: server names are host names, compared without either", s.Name, prev), "servers", i, "name")
				continue
			}
		} else if s.Name != "" {
			serverKey[k] = s.Name
		}
	}
	server := func(n string) string {
		if def, ok := serverKey[mailaddr.NameKey(n)]; ok {
			return def
		}
		return n // unknown: reported as written
	}
	siteKey := map[string]string{}
	for i, s := range t.Sites {
		k := mailaddr.Fold(s.Name)
		if prev, dup := siteKey[k]; dup && prev != s.Name {
			v.add(fmt.Sprintf("site %q differs from site %q only in letter case", s.Name, prev), "sites", i, "name")
		} else if !dup && s.Name != "" {
			siteKey[k] = s.Name
		}
	}
	site := func(n string) string {
		if def, ok := siteKey[mailaddr.Fold(n)]; ok {
			return def
		}
		return n
	}
	for i := range t.Servers {
		if t.Servers[i].Site != "" {
			t.Servers[i].Site = site(t.Servers[i].Site)
		}
	}
	for i := range t.SiteLinks {
		for j := range t.SiteLinks[i].Sites {
			t.SiteLinks[i].Sites[j] = site(t.SiteLinks[i].Sites[j])
		}
	}
	for i := range t.Recipients {
		if t.Recipients[i].ExpansionSite != "" {
			t.Recipients[i].ExpansionSite = site(t.Recipients[i].ExpansionSite)
		}
	}
	for i := range t.MailboxDatabases {
		t.MailboxDatabases[i].Server = server(t.MailboxDatabases[i].Server)
	}
	for i := range t.SendConnectors {
		for j, s := range t.SendConnectors[i].SourceServers {
			t.SendConnectors[i].SourceServers[j] = server(s)
		}
	}
	for i := range t.RoutingGroupConnectors {
		for j, s := range t.RoutingGroupConnectors[i].SourceServers {
			t.RoutingGroupConnectors[i].SourceServers[j] = server(s)
		}
	}
	return v.out
}

func validateTopology(t *Topology) []violation {
	v := &validator{}
	unique := func(kind, name string, seen map[string]bool, path ...any) {
		switch {
		case name == "":
			v.add(kind+" needs a name", path...)
		case seen[name]:
			v.add(fmt.Sprintf("%s %q is defined twice", kind, name), append(path, "name")...)
		}
		seen[name] = true
	}
	sites, servers, dbs, groups := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{"modern": true}
	unnamed := unwritten(t)
	if len(t.Sites) == 0 {
		v.add("a topology needs at least one site", "sites")
	}
	for i, s := range t.Sites {
		unique("site", s.Name, sites, "sites", i)
		if strings.Contains(s.Name, "/") {
			// Its queue site:NAME and destination site:NAME/SERVERS are
			// read up to the "/" (queue suspend site:NAME/…).
			v.add(fmt.Sprintf(`site name %q holds "/": its queue site:NAME would read as another site's; choose a name without "/"`, s.Name), "sites", i, "name")
		}
		for j, p := range s.Subnets {
			if _, err := ParseRange(p); err != nil {
				v.add(fmt.Sprintf("subnet %q %s", p, rangeProblem(err, "a CIDR prefix")), "sites", i, "subnets", j)
			}
		}
	}
	links := map[string]bool{}
	for i, l := range t.SiteLinks {
		unique("site link", l.Name, links, "site_links", i)
		if len(l.Sites) < 2 {
			v.add(fmt.Sprintf("site link %q must join at least two sites", l.Name), "site_links", i, "sites")
		}
		for j, s := range l.Sites {
			if !sites[s] {
				v.compare(fmt.Sprintf("site link %q names unknown site %q", l.Name, s), unnamed.sites, "site_links", i, "sites", j)
			}
		}
		if b := intBounds["site_links[].cost"]; int64(l.Cost) < b.min || int64(l.Cost) > b.max {
			v.add(fmt.Sprintf("site link cost must be %d to %d", b.min, b.max), "site_links", i, "cost")
		}
		if l.UmbraCost < 0 || l.UmbraCost > MaxTopoLinkCost {
			v.add(costRefused(fmt.Sprintf("site_links[%d].umbra_cost", i), strconv.Itoa(l.UmbraCost)), "site_links", i, "umbra_cost")
		}
		if l.MaxMessageSize < 0 || l.MaxMessageSize > maxTopoSize {
			v.add("site link max_message_size is out of range", "site_links", i, "max_message_size")
		}
		messageSizeTooSmall(v, "site link max_message_size", l.MaxMessageSize, "site_links", i, "max_message_size")
	}
	roles := map[string]string{}
	// roleOf is where a server's role is written: a check that reads
	// one server's role reads that value, not every server's (a role
	// left out elsewhere hides no error of this one's: rr35 opsshadow).
	roleOf := map[string][][]any{}
	for i, s := range t.Servers {
		unique("server", s.Name, servers, "servers", i)
		roles[s.Name] = s.Role
		roleOf[s.Name] = append(roleOf[s.Name], []any{"servers", i, "role"})
		if b := intBounds["servers[].version"]; s.Version < 0 || int64(s.Version) > b.max {
			v.add(fmt.Sprintf("server %q: version must be %d to %d (absent: 1)", s.Name, b.min, b.max), "servers", i, "version")
		}
		switch s.Role {
		case "hub", "edge", "mailbox":
			if s.Site != "" && !sites[s.Site] {
				v.compare(fmt.Sprintf("server %q is in unknown site %q", s.Name, s.Site), unnamed.sites, "servers", i, "site")
			}
			if err := checkDialAddress(s.Address); err != nil && err != errUnspecifiedHost { // topologyRules says it
				v.add(fmt.Sprintf("server %q: address %q: %v", s.Name, s.Address, err), "servers", i, "address")
			}
			for j, a := range s.SourceAddresses {
				p, err := ParseSourceAddress(a)
				switch {
				case err != nil:
					v.add(fmt.Sprintf("server %q: source address %q %s", s.Name, a, rangeProblem(err, "an IP address or CIDR prefix")), "servers", i, "source_addresses", j)
				case everyAddress(p):
					v.add(fmt.Sprintf("server %q: source address %q covers every address: any host could claim to be %s on an externally secured connector; "+
						"list the addresses its connections come from", s.Name, a, s.Name), "servers", i, "source_addresses", j)
				case p.Addr().Unmap().IsUnspecified() && p.IsSingleIP():
					v.add(fmt.Sprintf("server %q: source address %q is the unspecified address, which no connection comes from; "+
						"list the addresses its connections come from", s.Name, a), "servers", i, "source_addresses", j)
				case sourceTooWide(p):
					v.add(fmt.Sprintf("server %q: source address %q is wider than a /%d of IPv4 or a /%d of IPv6, more than any server's connections come from: "+
						"a host in it could claim to be %s on an externally secured connector; list the addresses its connections come from",
						s.Name, a, minSourcePrefix4, minSourcePrefix6, s.Name), "servers", i, "source_addresses", j)
				}
			}
			if j, ok := sourcesTooWide(s.SourceAddresses); ok {
				v.add(fmt.Sprintf("server %q: source address %q and the entries before it cover more than a /%d of IPv4 or a /%d of IPv6 together, "+
					"more than any server's connections come from: a host in them could claim to be %s on an externally secured connector; "+
					"list the addresses its connections come from", s.Name, s.SourceAddresses[j], minSourcePrefix4, minSourcePrefix6, s.Name),
					"servers", i, "source_addresses", j)
			}
		case "legacy":
			if s.RoutingGroup == "" || s.RoutingGroup == "modern" {
				v.add(fmt.Sprintf("legacy server %q needs a routing_group other than modern", s.Name), "servers", i, "routing_group")
			}
			groups[s.RoutingGroup] = true
		default:
			v.add(fmt.Sprintf("server role must be hub, edge, mailbox or legacy, not %q", s.Role), "servers", i, "role")
		}
	}
	for i, d := range t.MailboxDatabases {
		unique("mailbox database", d.Name, dbs, "mailbox_databases", i)
		if !validDatabaseName(d.Name) {
			v.add(fmt.Sprintf("database name %q: use letters, digits and ._- (at most 64)", d.Name), "mailbox_databases", i, "name")
		}
		if !servers[d.Server] {
			v.compare(fmt.Sprintf("database %q is on unknown server %q", d.Name, d.Server), unnamed.servers, "mailbox_databases", i, "server")
		} else if r := roles[d.Server]; r != "mailbox" && r != "legacy" && knownRole(r) {
			v.compare(fmt.Sprintf("database %q is on %q, a %s server: databases are on mailbox or legacy servers", d.Name, d.Server, r), roleOf[d.Server], "mailbox_databases", i, "server")
		}
	}
	matches := map[string]bool{}
	for i, r := range t.Recipients {
		if m := mailaddr.AddrKey(r.Match); matches[m] && m != "" {
			v.add(fmt.Sprintf("recipients %q are mapped twice", r.Match), "recipients", i, "match")
		} else {
			matches[m] = true
		}
		// A domain in either form: checked as its A-label (rt17a F2).
		if r.Match == "" {
			v.add(fmt.Sprintf("recipients match %q is not an address, a domain or *.domain", r.Match), "recipients", i, "match")
		} else if !strings.Contains(r.Match, "@") {
			if p := domainProblem(strings.TrimPrefix(r.Match, "*.")); p != "" {
				v.add(fmt.Sprintf("recipients match %q %s", r.Match, p), "recipients", i, "match")
			}
		}
		if r.Members != nil || r.ExpansionSite != "" {
			validateGroup(v, t, i, sites)
		} else if !dbs[r.Database] {
			v.compare(fmt.Sprintf("recipients %q map to unknown database %q", r.Match, r.Database), unnamed.databases, "recipients", i, "database")
		}
		for j, a := range r.Addresses {
			if !topoAddressUnder(a, r.Match) {
				v.add(fmt.Sprintf("recipients %q: address %q is not user@domain under %s", r.Match, a, r.Match), "recipients", i, "addresses", j)
			}
		}
	}
	conns := map[string]bool{}
	for i, c := range t.SendConnectors {
		unique("send connector", c.Name, conns, "send_connectors", i)
		if msg := ReservedConnectorName(c.Name); msg != "" {
			v.add(fmt.Sprintf("send connector name %q %s", c.Name, msg), "send_connectors", i, "name")
		}
		if len(c.AddressSpaces) == 0 {
			v.add(fmt.Sprintf("send connector %q needs address spaces", c.Name), "send_connectors", i)
		}
		for j, a := range c.AddressSpaces {
			if _, err := mailaddr.Domain(a.Domain); err != nil {
				v.add(fmt.Sprintf("address space %q: %v", a.Domain, err), "send_connectors", i, "address_spaces", j, "domain")
			} else if !IsAddressSpace(mailaddr.DomainKey(a.Domain)) {
				v.add(fmt.Sprintf("address space %q is not a domain, *.domain or *", a.Domain), "send_connectors", i, "address_spaces", j, "domain")
			}
			if a.Cost < 0 || a.Cost > MaxAddressSpaceCost {
				v.add(costRefused(fmt.Sprintf("send_connectors[%d].address_spaces[%d].cost", i, j), strconv.Itoa(a.Cost)), "send_connectors", i, "address_spaces", j, "cost")
			}
		}
		if c.MaxMessageSize < 0 || c.MaxMessageSize > maxTopoSize {
			v.add("send connector max_message_size is out of range", "send_connectors", i, "max_message_size")
		}
		messageSizeTooSmall(v, "send connector max_message_size", c.MaxMessageSize, "send_connectors", i, "max_message_size")
		if len(c.SourceServers) == 0 {
			v.add(fmt.Sprintf("send connector %q needs source servers", c.Name), "send_connectors", i)
		}
		for j, s := range c.SourceServers {
			if !servers[s] {
				v.compare(fmt.Sprintf("send connector %q names unknown source server %q", c.Name, s), unnamed.servers, "send_connectors", i, "source_servers", j)
			}
		}
		if c.Scope != "" && c.Scope != "organisation" && c.Scope != "site" {
			v.add(fmt.Sprintf("scope must be organisation or site, not %q", c.Scope), "send_connectors", i, "scope")
		}
		for j, h := range c.SmartHosts {
			if err := CheckHostPort(h); err != nil { // as the configuration file's (validate.go)
				v.add(fmt.Sprintf("smart host %q: %v", h, err), "send_connectors", i, "smart_hosts", j)
			}
		}
		spaces := make([]AddressSpace, len(c.AddressSpaces))
		for j, a := range c.AddressSpaces {
			spaces[j] = AddressSpace{Domain: a.Domain, Cost: a.Cost}
		}
		connectorDuplicates(v, t.doc, c.Name, spaces, c.SmartHosts, 0, func(p ...any) []any { return append([]any{"send_connectors", i}, p...) })
	}
	rgcs := map[string]bool{}
	for i, c := range t.RoutingGroupConnectors {
		unique("routing group connector", c.Name, rgcs, "routing_group_connectors", i)
		if len(c.Groups) != 2 {
			v.add(fmt.Sprintf("routing group connector %q must join exactly two routing groups", c.Name), "routing_group_connectors", i, "groups")
		}
		for j, g := range c.Groups {
			if !groups[g] {
				v.compare(fmt.Sprintf("routing group connector %q names unknown routing group %q", c.Name, g), unnamed.groups, "routing_group_connectors", i, "groups", j)
			}
		}
		if len(c.Groups) == 2 && c.Groups[0] == c.Groups[1] {
			v.add(fmt.Sprintf("routing group connector %q joins routing group %q to itself", c.Name, c.Groups[0]), "routing_group_connectors", i, "groups")
		}
		// Issue 11 defects 5 and 6: 0 (or absent) is the default 1; a
		// negative cost once made routing loop.
		if c.Cost < 0 || c.Cost > MaxTopoRGCCost {
			v.add(costRefused(fmt.Sprintf("routing_group_connectors[%d].cost", i), strconv.Itoa(c.Cost)), "routing_group_connectors", i, "cost")
		}
		if c.MaxMessageSize < 0 || c.MaxMessageSize > maxTopoSize {
			v.add("routing group connector max_message_size is out of range", "routing_group_connectors", i, "max_message_size")
		}
		messageSizeTooSmall(v, "routing group connector max_message_size", c.MaxMessageSize, "routing_group_connectors", i, "max_message_size")
		for j, s := range c.SourceServers {
			if !servers[s] {
				v.compare(fmt.Sprintf("routing group connector %q names unknown source server %q", c.Name, s), unnamed.servers, "routing_group_connectors", i, "source_servers", j)
			} else if roles[s] != "hub" && knownRole(roles[s]) {
				v.compare(fmt.Sprintf("routing group connector %q: bridgehead %q is a %s server, not a hub", c.Name, s, roles[s]), roleOf[s], "routing_group_connectors", i, "source_servers", j)
			}
		}
		// Issue 11 defect 7: the modern side is left from a bridgehead.
		if (len(c.Groups) > 0 && c.Groups[0] == "modern" || len(c.Groups) > 1 && c.Groups[1] == "modern") && len(c.SourceServers) == 0 {
			v.add(fmt.Sprintf("routing group connector %q joins the modern group and needs a bridgehead in source_servers", c.Name), "routing_group_connectors", i)
		}
	}
	// The whole graph's checks and the rules that relate servers, sites
	// and databases read every entry's identifying values: any of them
	// left out (decodeAll) makes them about an entry that is not there.
	for _, w := range topologyGraph(t) {
		w.reads = append(w.reads, unnamed.any...)
		v.out = append(v.out, w)
	}
	v.out = append(v.out, topologyRules(t, unnamed.any)...)
	return v.out
}

// topoUnwritten holds, by kind, the paths of a topology's identifying
// values that are empty: each may be one decodeAll left out (a value
// that did not decode is empty in the decoded Topology, and its entry
// is known to be there by its position). A check that finds a name
// unknown reads the names of its kind that are empty: when one of them
// was left out, the name may be the one that did not decode, and the
// error would only be a consequence of the decode error (leftOut).
type topoUnwritten struct {
	sites, servers, roles, databases, groups, any [][]any
}

func unwritten(t *Topology) topoUnwritten {
	var u topoUnwritten
	for i, s := range t.Sites {
		if s.Name == "" {
			u.sites = append(u.sites, []any{"sites", i, "name"})
		}
		if len(s.Subnets) == 0 {
			u.any = append(u.any, []any{"sites", i, "subnets"})
		}
		for j, p := range s.Subnets {
			if p == "" {
				u.any = append(u.any, []any{"sites", i, "subnets", j})
			}
		}
	}
	for i, l := range t.SiteLinks {
		if len(l.Sites) == 0 {
			u.any = append(u.any, []any{"site_links", i, "sites"})
		}
		for j, s := range l.Sites {
			if s == "" {
				u.any = append(u.any, []any{"site_links", i, "sites", j})
			}
		}
		if l.Cost == 0 {
			u.any = append(u.any, []any{"site_links", i, "cost"})
		}
		if l.UmbraCost == 0 {
			u.any = append(u.any, []any{"site_links", i, "umbra_cost"})
		}
		if l.MaxMessageSize == 0 {
			u.any = append(u.any, []any{"site_links", i, "max_message_size"})
		}
	}
	for i, s := range t.Servers {
		if s.Name == "" {
			u.servers = append(u.servers, []any{"servers", i, "name"})
		}
		if s.Role == "" {
			u.roles = append(u.roles, []any{"servers", i, "role"})
		}
		if s.RoutingGroup == "" {
			u.groups = append(u.groups, []any{"servers", i, "routing_group"})
		}
		if s.Site == "" {
			u.any = append(u.any, []any{"servers", i, "site"})
		}
		if s.Version == 0 {
			u.any = append(u.any, []any{"servers", i, "version"})
		}
		if s.Address == "" {
			u.any = append(u.any, []any{"servers", i, "address"})
		}
	}
	u.groups = append(u.groups, u.roles...) // a legacy server's group counts by its role
	for i, d := range t.MailboxDatabases {
		if d.Name == "" {
			u.databases = append(u.databases, []any{"mailbox_databases", i, "name"})
		}
		if d.Server == "" {
			u.any = append(u.any, []any{"mailbox_databases", i, "server"})
		}
	}
	for i, c := range t.SendConnectors {
		if len(c.SourceServers) == 0 {
			u.any = append(u.any, []any{"send_connectors", i, "source_servers"})
		}
		if c.Scope == "" {
			u.any = append(u.any, []any{"send_connectors", i, "scope"})
		}
	}
	for i, c := range t.RoutingGroupConnectors {
		if len(c.Groups) == 0 {
			u.any = append(u.any, []any{"routing_group_connectors", i, "groups"})
		}
		if c.Cost == 0 {
			u.any = append(u.any, []any{"routing_group_connectors", i, "cost"})
		}
		if len(c.SourceServers) == 0 {
			u.any = append(u.any, []any{"routing_group_connectors", i, "source_servers"})
		}
	}
	u.any = slices.Concat(u.any, u.sites, u.servers, u.groups, u.databases)
	return u
}

// validateGroup checks the expansion group t.Recipients[i].
func validateGroup(v *validator, t *Topology, i int, sites map[string]bool) {
	r := t.Recipients[i]
	if !strings.Contains(r.Match, "@") {
		v.add(fmt.Sprintf("group %q: a group is an address", r.Match), "recipients", i, "match")
	}
	if r.Database != "" {
		v.add(fmt.Sprintf("group %q has members and a database: it is one or the other", r.Match), "recipients", i, "database")
	}
	if len(r.Members) == 0 {
		v.add(fmt.Sprintf("group %q has no members", r.Match), "recipients", i)
	}
	for j, m := range r.Members {
		if !validMailbox(m) {
			v.add(fmt.Sprintf("group %q: member %q is not an address", r.Match, m), "recipients", i, "members", j)
		}
	}
	switch {
	case !sites[r.ExpansionSite]:
		v.compare(fmt.Sprintf("group %q: expansion_site %q is not a site of the topology", r.Match, r.ExpansionSite), unwritten(t).sites, "recipients", i, "expansion_site")
	case !siteHasHub(t, r.ExpansionSite):
		v.compare(fmt.Sprintf("group %q: expansion site %q has no hub to expand it", r.Match, r.ExpansionSite), unwritten(t).any, "recipients", i, "expansion_site")
	}
	// A group that contains itself, directly or through others.
	groups := map[string][]string{}
	for _, g := range t.Recipients {
		if g.Members != nil {
			groups[mailaddr.AddrKey(g.Match)] = g.Members
		}
	}
	start := mailaddr.AddrKey(r.Match)
	seen := map[string]bool{}
	for todo := append([]string(nil), r.Members...); len(todo) > 0; todo = todo[1:] {
		m := mailaddr.AddrKey(todo[0])
		if m == start {
			v.add(fmt.Sprintf("group %q contains itself (a cycle of groups)", r.Match), "recipients", i, "members")
			return
		}
		if !seen[m] {
			seen[m] = true
			todo = append(todo, groups[m]...)
		}
	}
}

// siteHasHub reports whether a hub is in site: by its site, or, without
// one, by the longest subnet match of its address (RT-1).
func siteHasHub(t *Topology, site string) bool {
	for _, s := range t.Servers {
		if s.Role != "hub" {
			continue
		}
		if s.Site == site || s.Site == "" && siteByAddress(t, s.Address) == site {
			return true
		}
	}
	return false
}

func siteByAddress(t *Topology, address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	best, bits := "", -1
	for _, s := range t.Sites {
		for _, p := range s.Subnets {
			if pr, err := ParseRange(p); err == nil && pr.Contains(ip.Unmap()) && pr.Bits() > bits {
				best, bits = s.Name, pr.Bits()
			}
		}
	}
	return best
}

// Ranges of the topology's numeric fields (routing.NewTopology holds
// the same ones).
const (
	MaxTopoLinkCost = 99999 // Active Directory's site link cost range
	MaxTopoRGCCost  = 100   // a routing group connector's cost range
	MaxTopoVersion  = 1000
	maxTopoSize     = 1 << 50
	// DefaultRGCCost is the cost of a routing group connector written
	// without one.
	DefaultRGCCost = 1
)

// knownRole: role is one a server may have. A server whose role is not
// (a typo: mailbx) is refused at its role's line; the checks that read
// its role say nothing of it (a database on it, a bridgehead that is
// it): they would blame another line for that typo (rr-opsrt38 F4).
func knownRole(role string) bool {
	switch role {
	case "hub", "edge", "mailbox", "legacy":
		return true
	}
	return false
}

// topologyGraph reports, at the line of the element concerned, what
// only the whole graph shows: sites the first site cannot reach, servers
// whose site no subnet gives, and legacy routing groups no chain of
// routing group connectors joins to the modern group. It runs on a file
// whose references may be broken (those are reported elsewhere).
func topologyGraph(t *Topology) []violation {
	v := &validator{}
	idx := map[string]int{}
	for i, s := range t.Sites {
		if _, dup := idx[s.Name]; !dup {
			idx[s.Name] = i
		}
	}
	if len(t.Sites) > 0 {
		adj := make([][]int, len(t.Sites))
		for _, l := range t.SiteLinks {
			for _, a := range l.Sites {
				for _, b := range l.Sites {
					ia, ok1 := idx[a]
					ib, ok2 := idx[b]
					if ok1 && ok2 && ia != ib {
						adj[ia] = append(adj[ia], ib)
					}
				}
			}
		}
		unknownLink := "" // a site link naming a site no entry names: the likelier mistake
		for _, l := range t.SiteLinks {
			for _, a := range l.Sites {
				if _, ok := idx[a]; !ok && unknownLink == "" {
					unknownLink = fmt.Sprintf(" (site link %q names unknown site %q: this may only follow from that)", l.Name, a)
				}
			}
		}
		seen := make([]bool, len(t.Sites))
		seen[0] = true
		for queue := []int{0}; len(queue) > 0; queue = queue[1:] {
			for _, n := range adj[queue[0]] {
				if !seen[n] {
					seen[n] = true
					queue = append(queue, n)
				}
			}
		}
		for i, s := range t.Sites {
			if !seen[i] && idx[s.Name] == i {
				v.add(fmt.Sprintf("site %q cannot be reached from site %q over site links%s", s.Name, t.Sites[0].Name, unknownLink), "sites", i, "name")
			}
		}
	}
	modern := false
	for i, s := range t.Servers {
		if s.Role == "legacy" {
			continue
		}
		modern = true
		if s.Site == "" && checkHostPort(s.Address) == nil && !inSomeSubnet(t, s.Address) {
			v.add(fmt.Sprintf("server %q has no site, and its address %q is not an IP address in the subnets of a site", s.Name, s.Address), "servers", i, "address")
		}
		// An explicit site that the server's own address contradicts (the
		// most specific subnet holding it is another site's) is a typo:
		// prefer-remote copies would stay in one physical site, and the
		// edges of the real site would stop sending to it.
		// A site no site entry names is refused as unknown already: that
		// its address is in another site's subnet only follows from it
		// (ops49 F5), and is not a second error.
		if by := siteByAddress(t, s.Address); s.Site != "" && by != "" && by != s.Site && siteNamed(t, s.Site) {
			v.add(fmt.Sprintf("server %q is given site %q, but its address %s is in a subnet of site %q", s.Name, s.Site, s.Address, by), "servers", i, "site")
		}
	}
	if !modern {
		return v.out
	}
	reach := map[string]bool{"modern": true}
	for changed := true; changed; {
		changed = false
		for _, c := range t.RoutingGroupConnectors {
			if len(c.Groups) == 2 && reach[c.Groups[0]] != reach[c.Groups[1]] {
				reach[c.Groups[0]], reach[c.Groups[1]] = true, true
				changed = true
			}
		}
	}
	reported := map[string]bool{}
	for i, s := range t.Servers {
		if s.Role == "legacy" && s.RoutingGroup != "" && s.RoutingGroup != "modern" && !reach[s.RoutingGroup] && !reported[s.RoutingGroup] {
			reported[s.RoutingGroup] = true
			v.add(fmt.Sprintf("routing group %q of legacy server %q cannot be reached from the modern group over routing group connectors", s.RoutingGroup, s.Name), "servers", i, "routing_group")
		}
	}
	return v.out
}

// inSomeSubnet reports whether the host of address (an IP address) is in
// a subnet of some site: how a server without a site gets one (RT-1).
func inSomeSubnet(t *Topology, address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, s := range t.Sites {
		for _, p := range s.Subnets {
			if pr, err := ParseRange(p); err == nil && pr.Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

// everyAddress: p covers every IPv4 or every IPv6 address (0.0.0.0/0,
// ::/0, ::ffff:0.0.0.0/96 and wider).
func everyAddress(p netip.Prefix) bool {
	return p.Bits() == 0 || p.Addr().Is4In6() && p.Bits() <= 96
}

// The widest a topology server's source_addresses may reach (rt28e F5):
// no entry wider, and no list whose entries cover more together, than a
// /8 of IPv4 (an IPv4-mapped prefix counted as IPv4) or a /32 of IPv6 —
// a whole organisation's allocation; no server's connections come from
// more, and an entry wider (128.0.0.0/1, 2000::/3), or halves that
// together cover all (0.0.0.0/1 + 128.0.0.0/1), would let nearly any
// host claim the server on an externally secured connector. The rule
// is per server and per family; everyAddress's /0 keeps its own message.
const (
	minSourcePrefix4 = 8
	minSourcePrefix6 = 32
)

// sourceFamily is p with an IPv4-mapped prefix as its IPv4 one, and the
// minimum prefix length of its family (minSourcePrefix4/6).
func sourceFamily(p netip.Prefix) (netip.Prefix, int) {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	if p.Addr().Is4() {
		return p, minSourcePrefix4
	}
	return p, minSourcePrefix6
}

// sourceTooWide reports whether one source address entry is wider than
// its family's limit (minSourcePrefix4/6).
func sourceTooWide(p netip.Prefix) bool {
	p, lim := sourceFamily(p)
	return p.Bits() < lim
}

// sourcesTooWide reports whether a server's source addresses cover more
// than its family's limit together, and the index of the entry that
// crossed it. Two CIDR prefixes are nested or apart, so the union is the
// sum of the sizes of the entries no other entry contains. Entries that
// do not parse, or are too wide alone, are left to their own messages.
func sourcesTooWide(list []string) (int, bool) {
	var ps []netip.Prefix
	var at []int
	for j, a := range list {
		p, err := ParseSourceAddress(a)
		if err != nil || everyAddress(p) || sourceTooWide(p) {
			return 0, false
		}
		p, _ = sourceFamily(p)
		ps, at = append(ps, p.Masked()), append(at, j)
	}
	sum := map[bool]*big.Int{true: new(big.Int), false: new(big.Int)}
	for k, p := range ps {
		inner := false
		for l, o := range ps {
			if l != k && o.Bits() <= p.Bits() && o.Contains(p.Addr()) && (o.Bits() < p.Bits() || l < k) {
				inner = true // inside another entry (or a repeat of an earlier one)
				break
			}
		}
		if inner {
			continue
		}
		_, lim := sourceFamily(p)
		v4 := p.Addr().Is4()
		sum[v4].Add(sum[v4], new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits())))
		limit := new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-lim))
		if sum[v4].Cmp(limit) > 0 {
			return at[k], true
		}
	}
	return 0, false
}

// ParseSourceAddress reads a topology server's source address: an IP
// address (a one-address prefix) or a CIDR prefix. An IPv4-mapped one
// is read as the IPv4 it maps (::ffff:10.0.0.0/104 is 10.0.0.0/8), as
// the connections it is matched against are (their addresses unmapped):
// kept as IPv6 it would load, count as IPv4 and never match.
func ParseSourceAddress(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	return ParseRange(s)
}

// topoAddressUnder reports whether a is user@domain with its domain
// matched by a domain or *.domain entry.
func topoAddressUnder(a, match string) bool {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || !ValidRecipientEntry(a) || strings.Contains(match, "@") {
		return false
	}
	domain, match = mailaddr.AddrKey(domain), mailaddr.AddrKey(match)
	if suffix, wild := strings.CutPrefix(match, "*"); wild {
		return strings.HasSuffix(domain, suffix)
	}
	return domain == match
}

// siteNamed reports whether a site entry of t is called name.
func siteNamed(t *Topology, name string) bool {
	for _, x := range t.Sites {
		if x.Name == name {
			return true
		}
	}
	return false
}
