package routing

import (
	"fmt"
	"sort"
	"strings"
	"umbra/internal/mailaddr"
)

// DomainType says how the organisation treats an accepted domain.
type DomainType int

const (
	NotAccepted DomainType = iota
	Authoritative
	InternalRelay
	ExternalRelay
)

func (t DomainType) String() string {
	return [...]string{"not accepted", "authoritative", "internal relay", "external relay"}[t]
}

// AcceptedDomain is one accepted domain pattern.
type AcceptedDomain struct {
	Domain string // "example.org" or "*.example.org"
	Type   DomainType
}

// AddressSpace is a domain pattern with its cost.
type AddressSpace struct {
	Domain string // "example.org", "*.example.org" or "*"
	Cost   int
}

// Connector is a send connector as routing sees it.
type Connector struct {
	Name          string
	AddressSpaces []AddressSpace
	Enabled       bool
}

// Table is an immutable routing snapshot.
type Table struct {
	exact     map[string]DomainType
	wildcards []AcceptedDomain // "*.x" patterns, most specific first
	conns     []Connector
}

// NewTable builds a Table. Inputs are copied.
func NewTable(domains []AcceptedDomain, conns []Connector) *Table {
	t := &Table{exact: map[string]DomainType{}}
	for _, d := range domains {
		name := mailaddr.NameKey(d.Domain)
		if strings.HasPrefix(name, "*.") {
			t.wildcards = append(t.wildcards, AcceptedDomain{Domain: name[1:], Type: d.Type}) // ".x"
		} else {
			t.exact[name] = d.Type
		}
	}
	sort.SliceStable(t.wildcards, func(i, j int) bool { return len(t.wildcards[i].Domain) > len(t.wildcards[j].Domain) })
	for _, c := range conns {
		c.AddressSpaces = append([]AddressSpace(nil), c.AddressSpaces...)
		t.conns = append(t.conns, c)
	}
	return t
}

// Accepted returns how the organisation treats domain.
func (t *Table) Accepted(domain string) DomainType {
	return t.AcceptedKey(mailaddr.NameKey(domain))
}

// AcceptedKey is Accepted for a domain already in its key form
// (mailaddr.NameKey's: no final dot, ASCII lower case, A-labels), for a
// caller that has the key anyway: IDNA runs once.
func (t *Table) AcceptedKey(domain string) DomainType {
	if typ, ok := t.exact[domain]; ok {
		return typ
	}
	for _, w := range t.wildcards {
		if strings.HasSuffix(domain, w.Domain) {
			return w.Type
		}
	}
	return NotAccepted
}

// Decision is the connector chosen for a domain and why.
type Decision struct {
	Connector string
	Match     string // the address space that matched
	Cost      int
	Reason    string
}

// ErrNoRoute is returned when no enabled connector's address space
// matches the domain.
type ErrNoRoute struct{ Domain string }

// NoConnector is the Destination of a route no send connector serves:
// its mail waits in the unreachable queue.
const NoConnector = "no send connector"

// Error is in the words of the unreachable queue's reply with a topology
// too (delivery's unreachable) and the README's: one text for one cause.
func (e *ErrNoRoute) Error() string { return "no send connector serves " + e.Domain }

// Route picks the send connector for a recipient domain (RT-9).
func (t *Table) Route(domain string) (Decision, error) {
	domain = mailaddr.NameKey(domain)
	type cand struct {
		Decision
		spec int
	}
	var cands []cand
	for _, c := range t.conns {
		if !c.Enabled {
			continue
		}
		best := -1
		var as AddressSpace
		for _, a := range c.AddressSpaces {
			if s := specificity(mailaddr.AddrKey(a.Domain), domain); s > best || (s == best && s >= 0 && a.Cost < as.Cost) {
				best, as = s, a
			}
		}
		if best >= 0 {
			cands = append(cands, cand{Decision{Connector: c.Name, Match: as.Domain, Cost: as.Cost}, best})
		}
	}
	if len(cands) == 0 {
		return Decision{}, &ErrNoRoute{Domain: domain}
	}
	// The one order of connectors (rank.go): without a topology every
	// connector is this server's, so a tie goes by name.
	rankOf := func(c cand) rank { return rank{name: c.Connector, spec: c.spec, cost: c.Cost} }
	sort.SliceStable(cands, func(i, j int) bool {
		c, _ := compareRanks(rankOf(cands[i]), rankOf(cands[j]))
		return c < 0
	})
	d := cands[0].Decision
	if len(cands) == 1 {
		d.Reason = fmt.Sprintf("only connector whose address space matches (%s)", d.Match)
		return d, nil
	}
	switch _, by := compareRanks(rankOf(cands[0]), rankOf(cands[1])); by {
	case bySpec:
		d.Reason = fmt.Sprintf("most specific address space %s (next: %s of %s)", d.Match, cands[1].Match, cands[1].Connector)
	case byCost:
		d.Reason = fmt.Sprintf("lowest cost %d for %s (next: %d on %s)", d.Cost, d.Match, cands[1].Cost, cands[1].Connector)
	default:
		d.Reason = fmt.Sprintf("equal match and cost; name %s sorts before %s", d.Connector, cands[1].Connector)
	}
	return d, nil
}

// specificity is -1 when pattern does not match domain, otherwise larger
// for more specific patterns: an exact match beats every wildcard, and a
// longer wildcard suffix beats a shorter one.
func specificity(pattern, domain string) int {
	switch {
	case pattern == domain:
		return 1 << 20
	case pattern == "*":
		return 0
	case strings.HasPrefix(pattern, "*.") && strings.HasSuffix(domain, pattern[1:]):
		return len(pattern)
	}
	return -1
}

// Explain is the route of rcpt from a server without a topology (RT-11):
// an authoritative domain is delivered into the local mailbox store;
// other mail leaves through the send connector Route picks, with its
// reason; no connector means the message waits (unreachable queue).
func (t *Table) Explain(rcpt string) Route {
	r := Route{Recipient: rcpt, explain: true}
	domain := mailaddr.AddrKey(strings.TrimSuffix(rcpt[strings.LastIndexByte(rcpt, '@')+1:], "."))
	typ := t.Accepted(domain)
	if typ == Authoritative {
		r.Destination = "the local mailbox store"
		r.why("%s is an authoritative domain and there is no topology: deliver into this server's mailbox store", domain)
		r.NextHops = []NextHop{{Kind: HopMailbox}}
		return r
	}
	if typ != NotAccepted {
		r.why("%s is an accepted domain (%s): sent on through a send connector", domain, typ)
	}
	d, err := t.Route(domain)
	if err != nil {
		r.Destination = NoConnector
		r.why("no enabled send connector has an address space matching %s: the message waits in the unreachable queue", domain)
		return r
	}
	r.Destination = "send connector " + d.Connector
	r.why("send connector %s, address space %s, cost %d: %s (RT-9)", d.Connector, d.Match, d.Cost, d.Reason)
	r.NextHops = []NextHop{{Kind: HopConnector, Connector: d.Connector}}
	return r
}
