package config

import (
	"fmt"
	"strings"
)

// MessageAuthentication is a receive connector's inbound message
// authentication (receive_connectors[].message_authentication): SPF,
// DKIM, DMARC and ARC at the end of data (package msgauth), their
// results in one Authentication-Results header, and what a failure does.
//
// Profile gives every unset key its value: "off" (the default) runs no
// check; "internet" is the connector facing the internet: every check
// runs, failures are recorded in the header, and DMARC follows the
// sender domain's published policy (p=reject refused with 550 5.7.1,
// p=quarantine quarantined). A key set explicitly wins over the profile.
//
// Actions: off (the check does not run), header (the result is only
// recorded), quarantine, reject (550 5.7.x). DMARC takes off, header,
// quarantine (the domain's policy, with reject lowered to quarantine) or
// policy. Whenever a check whose failure would quarantine or refuse
// cannot be evaluated because DNS failed (temperror), the message gets
// 451 4.7.x: never a silent pass.
type MessageAuthentication struct {
	Profile string `yaml:"profile"`
	// AuthservID names umbra in Authentication-Results (RFC 8601);
	// default server.name. Headers arriving with it are removed.
	AuthservID string `yaml:"authserv_id"`
	SPF        string `yaml:"spf"`      // MAIL FROM identity, result fail
	HeloSPF    string `yaml:"helo_spf"` // HELO identity, result fail
	DKIM       string `yaml:"dkim"`     // signatures present, none passes
	ARC        string `yaml:"arc"`      // chain present, cv=fail
	DMARC      string `yaml:"dmarc"`
	// TrustedARCSealers are domains whose ARC seal umbra trusts (RFC
	// 8617 §7.2, RFC 7489 §10.5 local policy): a DMARC failure is not
	// acted on when the chain passes, its latest seal is one of theirs
	// and their ARC-Authentication-Results recorded dmarc=pass (a
	// mailing list that changed the message). Needs arc not off.
	TrustedARCSealers []string `yaml:"trusted_arc_sealers"`
	// MaxSignatures bounds the DKIM signatures verified per message.
	MaxSignatures int `yaml:"max_signatures"`
	// Timeout bounds the DNS lookups of one message's checks.
	Timeout Duration `yaml:"timeout"`
}

// Message authentication profiles and actions.
const (
	MsgAuthProfileOff      = "off"
	MsgAuthProfileInternet = "internet"

	MsgAuthOff        = "off"
	MsgAuthHeader     = "header"
	MsgAuthQuarantine = "quarantine"
	MsgAuthReject     = "reject"
	MsgAuthPolicy     = "policy" // dmarc only
)

// Enabled reports whether any check runs.
func (m MessageAuthentication) Enabled() bool {
	for _, a := range []string{m.SPF, m.HeloSPF, m.DKIM, m.ARC, m.DMARC} {
		if a != MsgAuthOff && a != "" {
			return true
		}
	}
	return false
}

func applyMsgAuthDefaults(m *MessageAuthentication, serverName string) {
	if m.Profile == "" {
		m.Profile = MsgAuthProfileOff
	}
	check, dmarc := MsgAuthOff, MsgAuthOff
	if m.Profile == MsgAuthProfileInternet {
		check, dmarc = MsgAuthHeader, MsgAuthPolicy
	}
	for _, a := range []*string{&m.SPF, &m.HeloSPF, &m.DKIM, &m.ARC} {
		if *a == "" {
			*a = check
		}
	}
	if m.DMARC == "" {
		m.DMARC = dmarc
	}
	if m.AuthservID == "" && IsDomain(serverName) { // a bad name is reported at its line, once
		m.AuthservID = strings.ToLower(serverName)
	}
	setInt(&m.MaxSignatures, DefaultMsgAuthMaxSignatures)
	setDur(&m.Timeout, DefaultMsgAuthTimeout)
}

func validateMsgAuth(v *validator, m MessageAuthentication, at func(p ...any) []any) {
	key := func(k string) []any { return at("message_authentication", k) }
	if m.Profile != MsgAuthProfileOff && m.Profile != MsgAuthProfileInternet {
		v.add(fmt.Sprintf("message_authentication.profile %q: want %s or %s", m.Profile, MsgAuthProfileOff, MsgAuthProfileInternet), key("profile")...)
	}
	for _, f := range []struct{ name, val string }{{"spf", m.SPF}, {"helo_spf", m.HeloSPF}, {"dkim", m.DKIM}, {"arc", m.ARC}} {
		switch f.val {
		case MsgAuthOff, MsgAuthHeader, MsgAuthQuarantine, MsgAuthReject:
		default:
			v.add(fmt.Sprintf("message_authentication.%s %q: want off, header, quarantine or reject", f.name, f.val), key(f.name)...)
		}
	}
	switch m.DMARC {
	case MsgAuthOff, MsgAuthHeader, MsgAuthQuarantine, MsgAuthPolicy:
	default:
		v.add(fmt.Sprintf("message_authentication.dmarc %q: want off, header, quarantine or policy", m.DMARC), key("dmarc")...)
	}
	if m.AuthservID != "" && !validAuthservID(m.AuthservID) {
		v.add(fmt.Sprintf("message_authentication.authserv_id %q: want a token without spaces, quotes or semicolons", m.AuthservID), key("authserv_id")...)
	}
	for i, d := range m.TrustedARCSealers {
		if !IsDomain(d) {
			v.add(fmt.Sprintf("message_authentication.trusted_arc_sealers: %q is not a domain", d), append(key("trusted_arc_sealers"), i)...)
		}
	}
	if len(m.TrustedARCSealers) > 0 && m.ARC == MsgAuthOff {
		v.compare("message_authentication.trusted_arc_sealers needs arc checked (arc: header, quarantine or reject)", [][]any{key("arc")}, key("trusted_arc_sealers")...)
	}
	intIn(v, m.MaxSignatures, key("max_signatures")...)
	if m.Timeout < 0 {
		v.add("message_authentication.timeout must be positive", key("timeout")...)
	}
}

// validAuthservID: an RFC 8601 authserv-id written as a token (RFC 2045),
// so that it needs no quoting.
func validAuthservID(s string) bool {
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?=`, r) {
			return false
		}
	}
	return true
}
