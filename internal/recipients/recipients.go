package recipients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"umbra/internal/filelimit"
	"umbra/internal/mailaddr"
)

// Verdict is a directory's answer for one address.
type Verdict uint8

// Verdicts.
const (
	CannotDecide Verdict = iota
	Known
	Unknown
)

func (v Verdict) String() string {
	switch v {
	case Known:
		return "known"
	case Unknown:
		return "unknown"
	}
	return "cannot-decide"
}

// Directory answers whether an address exists (List, Chain, Callout,
// and the LDAP directory of package ldapdir implement it). Lookup must honour ctx and must not block past it.
// A CannotDecide verdict comes with an error saying why.
type Directory interface {
	Lookup(ctx context.Context, address string) (Verdict, error)
}

// ErrDirectoryFailure is wrapped by the error of a CannotDecide from a
// directory server that cannot answer (LDAP down or timing out): the
// session answers it with 451 4.4.3 (RFC 3463 "directory server
// failure") rather than the general 451 4.3.0.
var ErrDirectoryFailure = errors.New("directory server failure")

// ErrInternal is wrapped by the error of a CannotDecide that is umbra's
// own fault, not the directory's: a lookup whose goroutine panicked (a
// defect, recovered and logged where it happened). The session answers
// it with 451 4.3.0 in its own words, never "directory server failure",
// even where the error wraps ErrDirectoryFailure as well (a directory
// that got no answer, for callers that ask only that).
var ErrInternal = errors.New("internal error of umbra's")

// List is a fixed set of addresses and "@domain" catch-alls; it is
// complete for what it lists: an address not in it is Unknown. Safe for
// concurrent use (it is never modified after it is built).
type List struct {
	addrs    map[string]bool // lower-cased "local@domain"
	catchAll map[string]bool // lower-cased domain
}

// NewList builds a List from "user@domain" and "@domain" entries.
func NewList(entries []string) (*List, error) {
	l := &List{addrs: map[string]bool{}, catchAll: map[string]bool{}}
	for _, e := range entries {
		if err := l.add(e); err != nil {
			return nil, fmt.Errorf("%q: %w", e, err)
		}
	}
	return l, nil
}

// Len is the number of entries (addresses and catch-alls).
func (l *List) Len() int { return len(l.addrs) + len(l.catchAll) }

// Covers reports whether the list names domain at all (an address or a
// catch-all there).
func (l *List) Covers(domain string) bool {
	domain = mailaddr.AddrKey(domain)
	if l.catchAll[domain] {
		return true
	}
	for a := range l.addrs {
		if a[strings.LastIndexByte(a, '@')+1:] == domain {
			return true
		}
	}
	return false
}

// Lookup implements Directory.
func (l *List) Lookup(_ context.Context, address string) (Verdict, error) {
	a := mailaddr.AddrKey(address)
	if l.addrs[a] {
		return Known, nil
	}
	if i := strings.LastIndexByte(a, '@'); i >= 0 && l.catchAll[a[i+1:]] {
		return Known, nil
	}
	return Unknown, nil
}

func (l *List) add(entry string) error {
	local, domain, ok := strings.Cut(entry, "@")
	switch {
	case !ok || strings.Contains(domain, "@"):
		return errors.New("not user@domain or @domain")
	}
	if err := checkDomain(domain); err != nil {
		return err
	}
	switch {
	case local == "":
		l.catchAll[mailaddr.AddrKey(domain)] = true
	case mailaddr.LocalDots(local) != "":
		return errors.New("bad local part: " + mailaddr.LocalDots(local))
	case !validLocal(local):
		return errors.New("bad local part")
	default:
		l.addrs[mailaddr.AddrKey(local+"@"+domain)] = true
	}
	return nil
}

// validLocal accepts a dot-atom local part (RFC 5322 atext, UTF-8
// letters for SMTPUTF8), at most 64 octets.
func validLocal(s string) bool { return mailaddr.DotAtomLocal(s) }

// checkDomain accepts a host name, an internationalised one in either
// form (rt17a F2): a domain with a non-ASCII or an A-label label is
// checked as the A-label IDNA makes of it (mailaddr.Domain, the key the
// list keeps it under), and a label IDNA refuses is refused with IDNA's
// reason, naming it; its dots are named in mailaddr.DomainDots' words.
func checkDomain(d string) error {
	if why := mailaddr.DomainDots(d); why != "" {
		// Named as RCPT names it (front38 F4): one reading of the dots.
		return errors.New("bad domain: " + why)
	}
	a, err := mailaddr.Domain(d)
	if err != nil {
		return fmt.Errorf("bad domain: %w", err)
	}
	if !validDomain(a) {
		return errors.New("bad domain")
	}
	return nil
}

// validDomain accepts an ASCII host name: dot-separated labels of
// letters, digits and inner hyphens, at most 253 octets.
func validDomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// MaxFileSize bounds a recipients file: far above any real list, far
// below what a setting pointed at a log file or a disk image would make
// a check, a start or a reload hold in memory.
const MaxFileSize = 64 << 20

// LoadFile reads and parses a recipients file, up to MaxFileSize: a
// larger one is refused naming the limit.
func LoadFile(path string) (*List, error) {
	data, err := filelimit.ReadFile(path, MaxFileSize, "a recipients file")
	if err != nil {
		return nil, err
	}
	return ParseFile(data, path)
}

// maxFileErrors bounds the errors one parse reports.
const maxFileErrors = 10

// ParseFile parses a recipients file: one entry per line, "user@domain"
// or "@domain" (a catch-all for the domain); blank lines and everything
// from a "#" that starts a line or follows white space are ignored. Every
// bad line is an error naming file:line; the whole file is refused then.
func ParseFile(data []byte, file string) (*List, error) {
	l := &List{addrs: map[string]bool{}, catchAll: map[string]bool{}}
	var errs []error
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: not UTF-8 text", file)
	}
	data = filelimit.TrimBOM(data) // "UTF-8 with BOM"
	for n, line := range strings.Split(string(data), "\n") {
		if i := commentStart(line); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimRight(strings.TrimSpace(line), "\r")
		if line == "" {
			continue
		}
		if r, bad := filelimit.InvisibleStart(line); bad {
			errs = append(errs, fmt.Errorf("%s:%d: the address begins with the invisible character %U, which no sender can type", file, n+1, r))
		} else if strings.ContainsAny(line, " \t\r\x00") || strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("%s:%d: one address per line, no spaces or control characters", file, n+1))
		} else if err := l.add(line); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %q: %w", file, n+1, line, err))
		}
		if len(errs) == maxFileErrors {
			errs = append(errs, fmt.Errorf("%s: too many errors", file))
			break
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return l, nil
}

func commentStart(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}

// Chain asks every directory: Known if any knows the address; else
// CannotDecide if any could not decide (with its error); else Unknown.
type Chain []Directory

// Lookup implements Directory.
func (c Chain) Lookup(ctx context.Context, address string) (Verdict, error) {
	var undecided error
	for _, d := range c {
		v, err := d.Lookup(ctx, address)
		switch v {
		case Known:
			return Known, nil
		case CannotDecide:
			if err == nil {
				err = errors.New("directory cannot decide")
			}
			undecided = err
		}
	}
	if undecided != nil {
		return CannotDecide, undecided
	}
	return Unknown, nil
}
