package config

import (
	"fmt"
	"net/mail"
	"time"

	"gopkg.in/yaml.v3"
)

// OutboundTLS is the destination domains' own TLS policies applied to
// mail leaving through MX send connectors (package tlspolicy): DANE
// (RFC 7672) first, then MTA-STS (RFC 8461), else the send connector's
// tls setting; TLS reporting (RFC 8460) counts the outcomes.
type OutboundTLS struct {
	// DANE uses DNSSEC-validated TLSA records of MX hosts; it needs
	// dns.trust_ad (a validating resolver on loopback), else it is off.
	DANE bool `yaml:"dane"`
	// MTASTS fetches, caches and applies MTA-STS policies.
	MTASTS bool `yaml:"mta_sts"`
	// CAFile holds extra PEM roots for policy hosts and MTA-STS MX
	// certificates; empty: the system's roots only.
	CAFile string `yaml:"ca_file"`
	// MTASTSFetchTimeout bounds one policy fetch; MTASTSRefreshInterval is
	// how often cached policies past half their max_age are fetched again.
	MTASTSFetchTimeout    Duration `yaml:"mta_sts_fetch_timeout"`
	MTASTSRefreshInterval Duration `yaml:"mta_sts_refresh_interval"`
	TLSRPT                TLSRPT   `yaml:"tls_rpt"`
	// Publish serves this server's own MTA-STS policy over HTTPS.
	Publish MTASTSPublish `yaml:"mta_sts_publish"`
}

// MTASTSPublish is the MTA-STS policy the edge publishes for the
// authoritative domains at https://mta-sts.<domain>/.well-known/mta-sts.txt
// (the _mta-sts TXT record is the operator's to publish). Off unless
// Listen is set.
type MTASTSPublish struct {
	Listen   string   `yaml:"listen"`
	CertFile string   `yaml:"cert_file"` // valid for mta-sts.<each domain>
	KeyFile  string   `yaml:"key_file"`
	Mode     string   `yaml:"mode"` // enforce, testing or none
	MX       []string `yaml:"mx"`
	MaxAge   Duration `yaml:"max_age"` // default 7 days
}

// TLSRPT is the sending side of TLS reporting: the daily report of each
// policy domain goes to the mailto: rua of its _smtp._tls record.
type TLSRPT struct {
	Enabled bool `yaml:"enabled"`
	// From is the reports' sender (default server.postmaster);
	// Organization their organization-name (default server.name);
	// Contact their contact-info (default From).
	From         string `yaml:"from"`
	Organization string `yaml:"organization"`
	Contact      string `yaml:"contact"`
}

// Defaults of outbound_tls.
const (
	DefaultMTASTSFetchTimeout    = 30 * time.Second
	DefaultMTASTSRefreshInterval = time.Hour
)

// outboundTLSPresets: the durations are preset so that an explicit 0s
// survives decoding and is refused, not silently replaced by the default.
func outboundTLSPresets() OutboundTLS {
	return OutboundTLS{DANE: true, MTASTS: true, TLSRPT: TLSRPT{Enabled: true},
		MTASTSFetchTimeout: Duration(DefaultMTASTSFetchTimeout), MTASTSRefreshInterval: Duration(DefaultMTASTSRefreshInterval)}
}

// OutboundTLSChanged reports whether next's outbound_tls section differs
// from c's as the files set it, before the defaults derived from the
// server section: a changed server.name (itself restart-only) is not a
// change of outbound_tls.
func (c *Config) OutboundTLSChanged(next *Config) bool {
	return fmt.Sprint(c.outboundTLSWritten) != fmt.Sprint(next.outboundTLSWritten) ||
		(c.doc == nil || next.doc == nil) && fmt.Sprint(c.OutboundTLS) != fmt.Sprint(next.OutboundTLS)
}

// KeepOutboundTLS gives c the outbound_tls settings of running, which
// stay in force until a restart (the policy engine is built at start).
func (c *Config) KeepOutboundTLS(running *Config) {
	c.OutboundTLS, c.outboundTLSWritten = running.OutboundTLS, running.outboundTLSWritten
}

func applyOutboundTLSDefaults(c *Config) {
	o := &c.OutboundTLS
	// mta_sts_fetch_timeout, mta_sts_refresh_interval: preset (outboundTLSPresets)
	if o.Publish.Listen != "" {
		setDur(&o.Publish.MaxAge, 7*24*time.Hour)
		if o.Publish.Mode == "" {
			o.Publish.Mode = "testing"
		}
	}
	if o.TLSRPT.From == "" {
		// The postmaster; a bad one is reported at its own line, not
		// again here at a line the file does not have (rt22 F3). A
		// server without a postmaster (no domain inside the
		// organisation) signs reports as postmaster@ its name's domain.
		switch {
		case validMailbox(c.Server.Postmaster):
			o.TLSRPT.From = c.Server.Postmaster
		case c.Server.Postmaster == "" && nameDomain(c.Server.Name) != "":
			o.TLSRPT.From = "postmaster@" + nameDomain(c.Server.Name)
		}
	}
	if o.TLSRPT.Organization == "" {
		o.TLSRPT.Organization = c.Server.Name
	}
	if o.TLSRPT.Contact == "" {
		o.TLSRPT.Contact = o.TLSRPT.From
	}
}

func validateOutboundTLS(v *validator, c *Config) {
	o := c.OutboundTLS
	if o.MTASTSFetchTimeout <= 0 {
		v.add("outbound_tls.mta_sts_fetch_timeout must be positive", "outbound_tls", "mta_sts_fetch_timeout")
	}
	if o.MTASTSRefreshInterval <= 0 {
		v.add("outbound_tls.mta_sts_refresh_interval must be positive", "outbound_tls", "mta_sts_refresh_interval")
	}
	if p := o.Publish; p.Listen != "" {
		if err := checkHostPort(p.Listen); err != nil {
			v.add(fmt.Sprintf("outbound_tls.mta_sts_publish.listen: %v", err), "outbound_tls", "mta_sts_publish", "listen")
		}
		if p.CertFile == "" || p.KeyFile == "" {
			v.add("outbound_tls.mta_sts_publish needs cert_file and key_file", "outbound_tls", "mta_sts_publish")
		}
		switch p.Mode {
		case "enforce", "testing", "none":
		default:
			v.add(fmt.Sprintf("outbound_tls.mta_sts_publish.mode must be enforce, testing or none, not %q", p.Mode), "outbound_tls", "mta_sts_publish", "mode")
		}
		if p.Mode != "none" && len(p.MX) == 0 {
			v.add("outbound_tls.mta_sts_publish.mx lists the MX hosts (patterns like *.example.com allowed)", "outbound_tls", "mta_sts_publish")
		}
		if p.MaxAge <= 0 || p.MaxAge.D() > 31557600*time.Second {
			v.add("outbound_tls.mta_sts_publish.max_age must be between 1s and 31557600s", "outbound_tls", "mta_sts_publish", "max_age")
		}
	}
	if o.TLSRPT.Enabled && o.TLSRPT.From != "" {
		if _, err := mail.ParseAddress(o.TLSRPT.From); err != nil {
			v.add(fmt.Sprintf("outbound_tls.tls_rpt.from: %v", err), "outbound_tls", "tls_rpt", "from")
		}
	}
}

// validateOutboundTLSKeys checks what depends on a key being written in
// the file, not only on its value: "dane: true" written without
// dns.trust_ad would be DANE silently off (DANE needs the AD bit of a
// validating resolver umbra trusts), so it is an error at its line. The
// default (dane not written) stays on where trust_ad allows and is
// merely logged at start otherwise.
func validateOutboundTLSKeys(c *Config, doc *yaml.Node) []violation {
	var v validator
	if c.OutboundTLS.DANE && !c.DNS.TrustAD && keyWritten(doc, "outbound_tls", "dane") {
		v.compare("outbound_tls.dane needs dns.trust_ad: true with a validating resolver on loopback (such as unbound) in dns.servers; without it DANE would be off",
			[][]any{{"dns", "trust_ad"}, {"dns", "servers"}}, "outbound_tls", "dane")
	}
	return v.out
}

// keyWritten reports whether the mapping keys of path are in doc
// (nodeAt).
func keyWritten(n *yaml.Node, path ...string) bool {
	p := make([]any, len(path))
	for i, k := range path {
		p[i] = k
	}
	node, _ := nodeAt(n, p)
	return node != nil
}
