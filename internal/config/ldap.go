package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"umbra/internal/mailaddr"
)

// LDAP is the organisation's directory (package ldapdir): a source of
// recipients (RCPT validation), of SMTP AUTH accounts on the receive
// connectors whose auth.ldap is set, and of the mailbox database of a
// recipient. Off while URL is empty.
type LDAP struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection before anything is sent.
	StartTLS bool `yaml:"start_tls"`
	// CAFile verifies the directory's certificate (system roots if empty).
	CAFile string `yaml:"ca_file"`
	// BindDN and BindPasswordFile are the service account umbra searches
	// with (anonymous searches when BindDN is empty). The password is
	// read from the file, never written in the configuration.
	BindDN           string `yaml:"bind_dn"`
	BindPasswordFile string `yaml:"bind_password_file"`
	// BaseDN is where every search starts (subtree scope).
	BaseDN string `yaml:"base_dn"`
	// RecipientFilter finds the entry of an address; every %s is the
	// address, escaped (RFC 4515).
	RecipientFilter string `yaml:"recipient_filter"`
	// DatabaseAttribute of a recipient's entry names its mailbox
	// database; empty: the topology alone assigns databases.
	DatabaseAttribute string `yaml:"database_attribute"`
	// AccountFilter finds the entry of an AUTH user name (%s, escaped);
	// empty: the directory holds no SMTP accounts. The password is
	// verified by binding as that entry.
	AccountFilter string `yaml:"account_filter"`
	// ServerAccountFilter, when the account's entry matches it too, makes
	// the account a transport server's (SPEC SR-1).
	ServerAccountFilter string `yaml:"server_account_filter"`
	// Timeout bounds one directory operation (connect, TLS, bind, search).
	Timeout Duration `yaml:"timeout"`
	// PositiveTTL and NegativeTTL: how long a found / not found answer
	// is reused without asking again.
	PositiveTTL Duration `yaml:"positive_ttl"`
	NegativeTTL Duration `yaml:"negative_ttl"`
	// CacheSize bounds the cached answers (the oldest are dropped).
	CacheSize int `yaml:"cache_size"`
}

// Enabled reports whether a directory is configured.
func (l LDAP) Enabled() bool { return l.URL != "" }

// Defaults of the ldap section.
const (
	DefaultLDAPRecipientFilter = "(mail=%s)"
	DefaultLDAPTimeout         = 5 * time.Second
	DefaultLDAPPositiveTTL     = 10 * time.Minute
	DefaultLDAPNegativeTTL     = 1 * time.Minute
	DefaultLDAPCacheSize       = 100000
)

func ldapDefaults(c *Config) {
	l := &c.LDAP
	if !l.Enabled() {
		return
	}
	if l.RecipientFilter == "" {
		l.RecipientFilter = DefaultLDAPRecipientFilter
	}
	setDur(&l.Timeout, DefaultLDAPTimeout)
	setDur(&l.PositiveTTL, DefaultLDAPPositiveTTL)
	setDur(&l.NegativeTTL, DefaultLDAPNegativeTTL)
	setInt(&l.CacheSize, DefaultLDAPCacheSize)
}

func ldapPaths(c *Config, abs func(*string)) {
	abs(&c.LDAP.CAFile)
	abs(&c.LDAP.BindPasswordFile)
}

func validateLDAP(v *validator, c *Config) {
	l := c.LDAP
	if !l.Enabled() {
		for i, rc := range c.ReceiveConnectors {
			if rc.Auth.LDAP {
				v.compare("auth.ldap needs the ldap section (url, account_filter)", [][]any{{"ldap"}}, "receive_connectors", i, "auth", "ldap")
			}
		}
		return
	}
	u, err := url.Parse(l.URL)
	switch {
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || (u.Path != "" && u.Path != "/"):
		v.add(fmt.Sprintf("ldap.url %q: want ldap://host[:port] or ldaps://host[:port]", l.URL), "ldap", "url")
		return
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		// Credentials in a URL end up in logs and process listings; a
		// path or query (RFC 4516 DN, attributes, filter) would be
		// silently ignored: the base and filters have their own keys.
		v.add("ldap.url: want ldap://host[:port] or ldaps://host[:port] only, without user:password (use bind_dn and bind_password_file), path or query", "ldap", "url")
		return
	case u.Hostname() == "" || !IsHost(u.Hostname()):
		v.add(fmt.Sprintf("ldap.url %q: bad host %q%s", l.URL, u.Hostname(), hostHint(u.Hostname())), "ldap", "url")
		return
	case mailaddr.NoZone(u.Hostname()) != nil: // a server umbra dials: checkDialAddress's rule
		v.add(fmt.Sprintf("ldap.url %q: %v", l.URL, mailaddr.NoZone(u.Hostname())), "ldap", "url")
		return
	case UnspecifiedHost(u.Hostname()): // a server umbra dials: checkDialAddress's rule
		v.add(fmt.Sprintf("ldap.url %q: %v", l.URL, errUnspecifiedHost), "ldap", "url")
		return
	case u.Port() != "" && !mailaddr.ValidPort(u.Port()):
		v.add(fmt.Sprintf("ldap.url %q: bad port %q", l.URL, u.Port()), "ldap", "url")
		return
	case leadingZeroText(u.Port(), false) != "":
		v.add(fmt.Sprintf("ldap.url %q: port %s", l.URL, leadingZeroText(u.Port(), false)), "ldap", "url")
		return
	case portLeadingZero(u.Port()) != nil: // 007 too: as a smart host's (CheckHostPort)
		v.add(fmt.Sprintf("ldap.url %q: %v", l.URL, portLeadingZero(u.Port())), "ldap", "url")
		return
	case l.StartTLS && u.Scheme == "ldaps":
		v.add("ldap.start_tls is for ldap:// URLs; ldaps:// is TLS already", "ldap", "start_tls")
	}
	if l.BaseDN == "" {
		v.add("ldap.base_dn is required", "ldap", "base_dn")
	} else if _, err := ldap.ParseDN(l.BaseDN); err != nil {
		v.add(fmt.Sprintf("ldap.base_dn: %v", err), "ldap", "base_dn")
	}
	if l.BindDN != "" && l.BindPasswordFile == "" {
		v.compare("ldap.bind_dn needs bind_password_file", [][]any{{"ldap", "bind_password_file"}}, "ldap", "bind_dn")
	}
	if l.BindDN == "" && l.BindPasswordFile != "" {
		v.compare("ldap.bind_password_file without bind_dn", [][]any{{"ldap", "bind_dn"}}, "ldap", "bind_password_file")
	}
	for _, f := range []struct {
		key, filter string
		needArg     bool
	}{{"recipient_filter", l.RecipientFilter, true}, {"account_filter", l.AccountFilter, true}, {"server_account_filter", l.ServerAccountFilter, false}} {
		if f.filter == "" {
			continue
		}
		if f.needArg && !strings.Contains(f.filter, "%s") {
			v.add(fmt.Sprintf("ldap.%s must contain %%s (the escaped address or name)", f.key), "ldap", f.key)
			continue
		}
		if _, err := ldap.CompileFilter(strings.ReplaceAll(f.filter, "%s", "x")); err != nil {
			v.add(fmt.Sprintf("ldap.%s: %v", f.key, err), "ldap", f.key)
			continue
		}
		if f.needArg && !verifiableFilter(f.filter) {
			v.add(fmt.Sprintf("ldap.%s needs an equality item holding %%s, such as (mail=%%s): umbra accepts a hit only when the entry has that value (ASCII case aside)", f.key), "ldap", f.key)
		}
	}
	if l.ServerAccountFilter != "" && l.AccountFilter == "" {
		v.compare("ldap.server_account_filter needs account_filter", [][]any{{"ldap", "account_filter"}}, "ldap", "server_account_filter")
	}
	if l.DatabaseAttribute != "" && !validAttr(l.DatabaseAttribute) {
		v.add(fmt.Sprintf("ldap.database_attribute %q is not an attribute name", l.DatabaseAttribute), "ldap", "database_attribute")
	}
	// Passwords given to AUTH are sent to the directory in the bind:
	// never in clear text beyond this host.
	if l.AccountFilter != "" && u.Scheme == "ldap" && !l.StartTLS && !mailaddr.LoopbackHost(u.Hostname()) {
		v.compare("ldap.account_filter sends passwords to the directory: use ldaps:// or start_tls "+clearTextOnlyToLoopback(u.Hostname()),
			[][]any{{"ldap", "start_tls"}, {"ldap", "url"}}, "ldap", "account_filter")
	}
	// The service account's bind is a login too (umbra as the client):
	// its password, like a smart host's, never goes in clear text.
	if l.BindDN != "" && u.Scheme == "ldap" && !l.StartTLS && !mailaddr.LoopbackHost(u.Hostname()) {
		v.compare("ldap.bind_dn sends the service account's password to the directory: use ldaps:// or start_tls "+clearTextOnlyToLoopback(u.Hostname()),
			[][]any{{"ldap", "start_tls"}, {"ldap", "url"}}, "ldap", "bind_dn")
	}
	if l.Timeout <= 0 || l.PositiveTTL < 0 || l.NegativeTTL < 0 {
		v.add("ldap: timeout must be positive; TTLs not negative", "ldap")
	}
	intIn(v, l.CacheSize, "ldap", "cache_size")
	for i, rc := range c.ReceiveConnectors {
		if rc.Auth.LDAP && l.AccountFilter == "" {
			v.compare("auth.ldap needs ldap.account_filter", [][]any{{"ldap", "account_filter"}}, "receive_connectors", i, "auth", "ldap")
		}
	}
}

// clearTextOnlyToLoopback is the refusal's rule for an ldap:// URL's
// host (mailaddr.LoopbackHost): a host name other than localhost is never taken
// as loopback, whatever dns.hosts_file maps it to — that file is read
// again while umbra runs, and which names it holds is no part of the
// configuration checked.
func clearTextOnlyToLoopback(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return "(clear text only to localhost or a literal loopback address)"
	}
	return fmt.Sprintf("(clear text only to localhost or a literal loopback address: a host name such as %s is never taken as one, whatever dns.hosts_file maps it to)", host)
}

func validAttr(s string) bool {
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '-')) {
			return false
		}
	}
	return s != ""
}

// filterItemRE finds the simple items of a filter: (attr op value).
var filterItemRE = regexp.MustCompile(`\(([A-Za-z0-9][A-Za-z0-9.;-]*)(~=|>=|<=|:[^()=]*:=|=)([^()]*)\)`)

// verifiableFilter reports whether a filter pattern has an equality item
// whose value holds %s without a wildcard: the items package ldapdir
// verifies a directory's hit against (ldapdir.Assertions), since the
// directory's matching rules may fold what umbra does not.
func verifiableFilter(pattern string) bool {
	for _, m := range filterItemRE.FindAllStringSubmatch(pattern, -1) {
		if m[2] == "=" && strings.Contains(m[3], "%s") && !strings.Contains(m[3], "*") {
			return true
		}
	}
	return false
}
