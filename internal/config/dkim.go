package config

import (
	"fmt"
	"strings"
	"umbra/internal/mailaddr"
)

// DKIM is the signing of mail that leaves the organisation (package
// signing): a DKIM-Signature (RFC 6376) per sender domain, and an ARC set
// (RFC 8617) on mail umbra authenticated on the way in and forwards out.
// Keys are files read at start and on reload; a file that cannot be read
// or parsed fails the start, the reload and `umbra config check`.
type DKIM struct {
	// Keys: one signing key per domain. A message is signed with the key
	// of its From: header domain (or the nearest parent domain that has
	// a key), else with the key of its envelope sender's domain; a
	// message with neither leaves unsigned.
	Keys []DKIMKey `yaml:"keys"`
	// Headers are the header fields signed, each oversigned (listed in h=
	// once more than the message has it, so a copy of it added later
	// breaks the signature). Must include From. Default: DefaultDKIMHeaders.
	Headers []string `yaml:"headers"`
	// ARC seals mail that carries an Authentication-Results header of
	// this server's authserv-id when it leaves the organisation. Off
	// unless key_file is set.
	ARC ARC `yaml:"arc"`
}

// DKIMKey is one domain's signing key.
type DKIMKey struct {
	Domain string `yaml:"domain"`
	// Selector names the key's DNS record: SELECTOR._domainkey.DOMAIN.
	Selector string `yaml:"selector"`
	// KeyFile is a PEM private key: Ed25519 (PKCS#8) or RSA (PKCS#1 or
	// PKCS#8, at least 1024 bits). Relative to the configuration's
	// directory.
	KeyFile string `yaml:"key_file"`
}

// ARC is the sealer's identity (RFC 8617 §4).
type ARC struct {
	Domain   string `yaml:"domain"`
	Selector string `yaml:"selector"`
	KeyFile  string `yaml:"key_file"`
	// AuthServID is the authserv-id of this server's own
	// Authentication-Results headers (RFC 8601); only those are sealed
	// into ARC-Authentication-Results. Default: server.name.
	AuthServID string `yaml:"authserv_id"`
}

// Enabled reports whether ARC sealing is configured.
func (a ARC) Enabled() bool { return a.KeyFile != "" }

func applyDKIMDefaults(c *Config) {
	if len(c.DKIM.Headers) == 0 {
		c.DKIM.Headers = append([]string(nil), DefaultDKIMHeaders...)
	}
	if c.DKIM.ARC.Enabled() && c.DKIM.ARC.AuthServID == "" && IsDomain(c.Server.Name) { // a bad name is reported at its line
		c.DKIM.ARC.AuthServID = strings.ToLower(c.Server.Name) // as message_authentication's default
	}
}

func validateDKIM(v *validator, d DKIM) {
	seen := map[string]bool{}
	for i, k := range d.Keys {
		name, err := mailaddr.Name(k.Domain)
		if err != nil {
			v.add(fmt.Sprintf("dkim.keys: domain %q: %v", k.Domain, err), "dkim", "keys", i, "domain")
		} else if !IsDomain(name) {
			v.add(fmt.Sprintf("dkim.keys: domain %q is not a domain name", k.Domain), "dkim", "keys", i, "domain")
		} else if seen[name] {
			v.add(fmt.Sprintf("dkim.keys: domain %q has two keys; one signature per message is made, with one key per domain", k.Domain), "dkim", "keys", i, "domain")
		}
		seen[name] = true
		if !IsDomain(k.Selector) {
			v.add(fmt.Sprintf("dkim.keys: selector %q is not a DNS name", k.Selector), "dkim", "keys", i, "selector")
		}
		if k.KeyFile == "" {
			v.add(fmt.Sprintf("dkim.keys: %s needs key_file", k.Domain), "dkim", "keys", i)
		}
	}
	from := false
	for i, h := range d.Headers {
		if !validFieldName(h) {
			v.add(fmt.Sprintf("dkim.headers: %q is not a header field name", h), "dkim", "headers", i)
		}
		if strings.EqualFold(h, "From") {
			from = true
		}
		if strings.EqualFold(h, "DKIM-Signature") || strings.HasPrefix(strings.ToLower(h), "arc-") {
			v.add(fmt.Sprintf("dkim.headers: %q is added after signing and cannot be signed", h), "dkim", "headers", i)
		} else if traceField(h) {
			v.add(fmt.Sprintf("dkim.headers: %q is a trace field, added or removed by every hop after signing: signing it breaks the signature downstream", h), "dkim", "headers", i)
		}
	}
	if !from {
		v.add("dkim.headers must include From (RFC 6376 §5.4)", "dkim", "headers")
	}
	a := d.ARC
	if a.Enabled() || a.Domain != "" || a.Selector != "" {
		if !IsDomain(a.Domain) {
			v.add(fmt.Sprintf("dkim.arc.domain %q is not a domain name", a.Domain), "dkim", "arc")
		}
		if !IsDomain(a.Selector) {
			v.add(fmt.Sprintf("dkim.arc.selector %q is not a DNS name", a.Selector), "dkim", "arc")
		}
		if a.KeyFile == "" {
			v.add("dkim.arc needs key_file", "dkim", "arc")
		}
	}
	// Written into ARC-Authentication-Results as an RFC 8601 authserv-id:
	// a token, as message_authentication.authserv_id.
	if a.AuthServID != "" && !validAuthservID(a.AuthServID) {
		v.add(fmt.Sprintf("dkim.arc.authserv_id %q must be one token (RFC 8601: ASCII, no spaces, quotes, semicolons or other specials)", a.AuthServID), "dkim", "arc", "authserv_id")
	}
}

// traceField: a header field that servers add or remove in transit
// (RFC 5322 §3.6.7 trace fields, final delivery's Delivered-To, RFC 8601
// results, umbra's own X-Umbra- fields), so a signature over it breaks.
func traceField(h string) bool {
	switch strings.ToLower(h) {
	case "received", "return-path", "delivered-to", "x-original-to", "authentication-results":
		return true
	}
	return strings.HasPrefix(strings.ToLower(h), "x-umbra-")
}

// validFieldName: printable US-ASCII except colon (RFC 5322 §3.6.8).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}
