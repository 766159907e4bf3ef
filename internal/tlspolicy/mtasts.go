package tlspolicy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"umbra/internal/mailaddr"
)

// STS modes (RFC 8461 §3.2).
const (
	ModeEnforce = "enforce"
	ModeTesting = "testing"
	ModeNone    = "none"
)

// maxPolicySize bounds a fetched policy file (RFC 8461 §3.3 suggests 64 KiB).
const maxPolicySize = 64 << 10

// maxMaxAge is the largest max_age a policy may have (RFC 8461 §3.2: 31557600).
const maxMaxAge = 31557600 * time.Second

// STSPolicy is a parsed MTA-STS policy with what umbra knows of it.
type STSPolicy struct {
	Mode   string
	MX     []string // patterns: "mail.example.com" or "*.example.net"
	MaxAge time.Duration

	// ID is the id of the _mta-sts TXT record the policy was fetched under.
	ID string
	// Fetched is when the policy was fetched; it expires at Fetched+MaxAge.
	Fetched time.Time
}

// Expires is when the cached policy stops being valid.
func (p *STSPolicy) Expires() time.Time { return p.Fetched.Add(p.MaxAge) }

// Strings is the policy as a TLS report's policy-string gives it (RFC
// 8460 §4.4): one element per line, in the order of RFC 8461 §3.2 —
// version, mode, each mx, max_age — in the policy's values.
func (p *STSPolicy) Strings() []string {
	out := []string{"version: STSv1", "mode: " + p.Mode}
	for _, mx := range p.MX {
		out = append(out, "mx: "+mx)
	}
	return append(out, fmt.Sprintf("max_age: %d", int64(p.MaxAge/time.Second)))
}

// ParsePolicy parses a policy file (RFC 8461 §3.2): "key: value" lines
// separated by LF or CRLF. version must be STSv1; mode, max_age are
// required; mx is required unless the mode is none. Unknown keys are
// ignored, as the RFC says; a repeated version, mode or max_age is an
// error.
func ParsePolicy(b []byte) (*STSPolicy, error) {
	if len(b) > maxPolicySize {
		return nil, fmt.Errorf("mta-sts policy larger than %d bytes", maxPolicySize)
	}
	p := &STSPolicy{}
	seen := map[string]bool{}
	version := ""
	for n, line := range bytes.Split(b, []byte("\n")) {
		l := strings.TrimSuffix(string(line), "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("mta-sts policy line %d: no colon", n+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "mx" && seen[k] {
			return nil, fmt.Errorf("mta-sts policy line %d: %s repeated", n+1, k)
		}
		seen[k] = true
		switch k {
		case "version":
			version = v
		case "mode":
			switch v {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = v
			default:
				return nil, fmt.Errorf("mta-sts policy line %d: mode %q", n+1, v)
			}
		case "max_age":
			// RFC 8461 §3.2: max_age is 1*10DIGIT, at most 31557600. A
			// larger number is capped rather than refused (refusing it
			// would leave the domain with no policy at all); anything
			// but digits (a sign, a fraction) is a syntax error.
			if v == "" || strings.TrimLeft(v, "0123456789") != "" {
				return nil, fmt.Errorf("mta-sts policy line %d: max_age %q", n+1, v)
			}
			p.MaxAge = maxMaxAge
			if s, err := strconv.ParseUint(v, 10, 64); err == nil && s < uint64(maxMaxAge/time.Second) {
				p.MaxAge = time.Duration(s) * time.Second
			}
		case "mx":
			if !validMXPattern(v) {
				return nil, fmt.Errorf("mta-sts policy line %d: mx %q", n+1, v)
			}
			p.MX = append(p.MX, mailaddr.NameKey(v))
		}
	}
	switch {
	case version != "STSv1":
		return nil, errors.New("mta-sts policy: version is not STSv1")
	case p.Mode == "":
		return nil, errors.New("mta-sts policy: no mode")
	case !seen["max_age"]:
		return nil, errors.New("mta-sts policy: no max_age")
	case p.Mode != ModeNone && len(p.MX) == 0:
		return nil, errors.New("mta-sts policy: no mx")
	}
	return p, nil
}

// validMXPattern accepts a host name, optionally with one leading "*."
// label.
func validMXPattern(v string) bool {
	v = strings.TrimSuffix(v, ".")
	v = strings.TrimPrefix(v, "*.")
	if v == "" || len(v) > 253 {
		return false
	}
	for _, l := range strings.Split(v, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// MatchMX reports whether host (an MX host name) matches one of the
// policy's mx patterns (RFC 8461 §4.1): exactly, or "*.d" matching one
// label in front of d.
func (p *STSPolicy) MatchMX(host string) bool {
	host = mailaddr.NameKey(host)
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// Binds reports whether p keeps a message from the MX hosts it does not
// list (RFC 8461 §4.1): an enforce policy, unless the sender lifted the
// domain's policies ("TLS-Required: No", noPolicy: RFC 8689 §5), and
// any policy for a REQUIRETLS message (RFC 8689 §4.2.1: testing counts
// as enforce). nil or mode none binds nothing.
func (p *STSPolicy) Binds(noPolicy, requireTLS bool) bool {
	if p == nil || p.Mode == ModeNone {
		return false
	}
	return p.Mode == ModeEnforce && !noPolicy || requireTLS
}

// Admits reports whether a message (noPolicy, requireTLS as for Binds)
// may go to MX host mx under p: the one test delivery skips MX hosts by
// before it counts them against mx_address_limit (delivery filterHosts)
// and route explain shows them skipped by (Explain, PastAddressLimit).
func (p *STSPolicy) Admits(mx string, noPolicy, requireTLS bool) bool {
	return !p.Binds(noPolicy, requireTLS) || p.MatchMX(mx)
}

// ParseSTSRecord parses the _mta-sts TXT record (RFC 8461 §3.1) and
// returns its id. The record starts with v=STSv1; fields are
// "key=value" separated by ";".
func ParseSTSRecord(txt string) (string, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", errors.New("mta-sts record: not v=STSv1")
	}
	id := ""
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" {
			if v == "" || len(v) > 32 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				return "", fmt.Errorf("mta-sts record: id %q", v)
			}
			id = v
		}
	}
	if id == "" {
		return "", errors.New("mta-sts record: no id")
	}
	return id, nil
}

// encode and decodeSTS are the form a policy is cached in (the transport
// database's tlspolicy bucket): a version byte, then lines.
func (p *STSPolicy) encode() []byte {
	var b strings.Builder
	b.WriteString("1\n")
	fmt.Fprintf(&b, "%s\n%d\n%s\n%d\n", p.Mode, int64(p.MaxAge/time.Second), p.ID, p.Fetched.UnixNano())
	for _, m := range p.MX {
		b.WriteString(m + "\n")
	}
	return []byte(b.String())
}

func decodeSTS(b []byte) (*STSPolicy, error) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 5 || lines[0] != "1" {
		return nil, errors.New("cached mta-sts policy: unknown format")
	}
	age, err1 := strconv.ParseInt(lines[2], 10, 64)
	fetched, err2 := strconv.ParseInt(lines[4], 10, 64)
	if err1 != nil || err2 != nil || age < 0 || age > int64(maxMaxAge/time.Second) {
		return nil, errors.New("cached mta-sts policy: bad numbers")
	}
	// A damaged value is refused (the policy is fetched again), never
	// read as one the policy file could not have given: an unknown mode
	// would enforce nothing.
	switch lines[1] {
	case ModeEnforce, ModeTesting, ModeNone:
	default:
		return nil, errors.New("cached mta-sts policy: unknown mode")
	}
	mx := lines[5:]
	if lines[1] != ModeNone && len(mx) == 0 {
		return nil, errors.New("cached mta-sts policy: no mx")
	}
	for _, m := range mx {
		if !validMXPattern(m) {
			return nil, errors.New("cached mta-sts policy: bad mx")
		}
	}
	return &STSPolicy{Mode: lines[1], MaxAge: time.Duration(age) * time.Second, ID: lines[3],
		Fetched: time.Unix(0, fetched), MX: mx}, nil
}
