package recipients

import (
	"context"
	"sort"
	"strings"
	"umbra/internal/mailaddr"
)

// Mode is how the recipients of one accepted domain are validated.
type Mode uint8

// Modes (configuration values in parentheses).
const (
	// Off accepts every local part ("off").
	Off Mode = iota
	// ModeDirectory: the lists decide; an address they do not know is
	// Unknown ("directory").
	ModeDirectory
	// ModeCallout: an address the lists know is Known; any other is
	// asked of the next hop through the cache ("callout").
	ModeCallout
)

// DomainMode gives the mode of a domain pattern: "example.org" or
// "*.example.org" (its subdomains), as accepted domains are written.
type DomainMode struct {
	Pattern string
	Mode    Mode
}

// Validator decides RCPT for every accepted domain. It is immutable; a
// reload builds a new one.
type Validator struct {
	exact   map[string]Mode
	wild    []DomainMode // ".suffix", longest first
	lists   Directory
	callout Directory
}

// NewValidator returns a Validator. lists are the directory sources (the
// topology's recipients, the recipients file); callout may be nil when
// no domain uses ModeCallout.
func NewValidator(domains []DomainMode, lists Directory, callout Directory) *Validator {
	v := &Validator{exact: map[string]Mode{}, lists: lists, callout: callout}
	if v.lists == nil {
		v.lists = Chain(nil)
	}
	for _, d := range domains {
		p := mailaddr.AddrKey(d.Pattern)
		if strings.HasPrefix(p, "*.") {
			v.wild = append(v.wild, DomainMode{Pattern: p[1:], Mode: d.Mode})
		} else {
			v.exact[p] = d.Mode
		}
	}
	sort.SliceStable(v.wild, func(i, j int) bool { return len(v.wild[i].Pattern) > len(v.wild[j].Pattern) })
	return v
}

// WithoutCallout is v with the same modes and lists but no callout: a
// callout domain's address the lists do not know is CannotDecide
// (errNoCallout) instead of asked of its next hop. route explain asks the
// daemon's validator so (its lists, its directory), making no callout.
func (v *Validator) WithoutCallout() *Validator {
	c := *v
	c.callout = nil
	return &c
}

// ModeOf is the mode of a domain; a domain that is not accepted is Off
// (relaying is the session's decision, not this one's).
func (v *Validator) ModeOf(domain string) Mode {
	d := mailaddr.AddrKey(domain)
	if m, ok := v.exact[d]; ok {
		return m
	}
	for _, w := range v.wild {
		if strings.HasSuffix(d, w.Pattern) {
			return w.Mode
		}
	}
	return Off
}

// Check decides an address. Off → Known.
func (v *Validator) Check(ctx context.Context, address string) (Verdict, error) {
	mode := v.ModeOf(address[strings.LastIndexByte(address, '@')+1:])
	switch mode {
	case Off:
		return Known, nil
	case ModeDirectory:
		return v.lists.Lookup(ctx, address)
	}
	if verdict, _ := v.lists.Lookup(ctx, address); verdict == Known {
		return Known, nil
	}
	if v.callout == nil {
		return CannotDecide, errNoCallout
	}
	return v.callout.Lookup(ctx, address)
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoCallout = constError("no callout is configured")
