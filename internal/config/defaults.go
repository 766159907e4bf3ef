package config

import (
	_ "embed"
	"strings"
	"time"
	"umbra/internal/mailaddr"
)

// Default values. They live here and nowhere else; SPEC §8 gives the shadow,
// acknowledgement, expiration and delay values.
const (
	DefaultMessageExpiration          = 48 * time.Hour
	DefaultDelayNotification          = 4 * time.Hour
	DefaultRetryJitter                = 0.2
	DefaultMaxActive                  = 1000
	DefaultPoisonThreshold            = 2
	DefaultResultCommitDelay          = 10 * time.Millisecond
	MaxResultCommitDelay              = time.Minute // a crash repeats the deliveries of at most this long
	DefaultMaxConnectionsPerDest      = 10
	DefaultInitialDestConcurrency     = 5               // a destination's window when first seen
	DefaultDeadDestinationCoolDown    = 5 * time.Minute // at most; default: the first retry step
	DefaultConnectTimeout             = 30 * time.Second
	DefaultCommandTimeout             = 5 * time.Minute
	DefaultDataTimeout                = 10 * time.Minute
	DefaultShadowHeartbeatTimeout     = 300 * time.Second
	DefaultShadowHeartbeatRetryCount  = 3
	DefaultMaxAcknowledgementDelay    = 30 * time.Second
	DefaultMaxRetriesRemoteSiteShadow = 4
	DefaultMaxRetriesLocalSiteShadow  = 2
	DefaultShadowOnReceipt            = ShadowOnReceiptOff
	DefaultMaxMessageSize             = 36 << 20
	DefaultMaxRecipients              = 200
	DefaultMaxConnections             = 5000
	DefaultMaxConnectionsPerSource    = 50 // 20 refused a third of one client's burst
	DefaultMaxLineLength              = 2000
	MaxLineLengthBound                = 1 << 20 // the largest limits.max_line_length
	DefaultIdleTimeout                = 5 * time.Minute
	DefaultMaxAuthFailures            = 3
	DefaultMaxJunkCommands            = 100
	DefaultMaxErrors                  = 20
	DefaultSoftErrorLimit             = 10
	DefaultErrorDelay                 = time.Second
	DefaultMaxTransactionTime         = 10 * time.Minute
	DefaultMaxDataTime                = time.Hour
	DefaultMinDataRate                = 500 // bytes per second
	DefaultBareNewlines               = BareNewlinesReject
	DefaultSMTPPort                   = 25
	DefaultTrackingMaxSize            = 100 << 20
	DefaultTrackingMaxFiles           = 10
	DefaultTrackingMaxAge             = 30 * 24 * time.Hour
	DefaultConsoleSessionIdle         = 30 * time.Minute
	DefaultMaxDumpsterSize            = 18 << 20
	DefaultMaxDumpsterTime            = 7 * 24 * time.Hour
	DefaultMailboxDatabase            = "local"
	DefaultMaxHopCount                = 60
	DefaultBounceSizeLimit            = 50 << 10
	DefaultAuthDelay                  = 1 * time.Second
	DefaultAuthMaxDelay               = 30 * time.Second
	DefaultAuthLockoutAfter           = 10
	DefaultAuthLockout                = 15 * time.Minute
	DefaultAuthWindow                 = 1 * time.Hour
	// Refusal log lines (refused connections, relay attempts, AUTH
	// failures) per reason and source: a burst, then one per interval;
	// the rest are counted and reported as "suppressed".
	DefaultRefusalLogBurst      = 10
	DefaultRefusalLogInterval   = 1 * time.Minute
	DefaultCalloutPositiveTTL   = 7 * 24 * time.Hour
	DefaultCalloutNegativeTTL   = 3 * time.Hour
	DefaultCalloutTimeout       = 30 * time.Second
	DefaultCalloutMaxConcurrent = 10
	DefaultCalloutMaxEntries    = 100000
	// Message authentication (receive_connectors[].message_authentication;
	// the profiles' values are in msgauth.go).
	DefaultMsgAuthMaxSignatures = 5
	DefaultMsgAuthTimeout       = 20 * time.Second
)

// DefaultRetrySchedule is the wait after each failed attempt; the last
// entry repeats until the message expires.
var DefaultRetrySchedule = []time.Duration{
	1 * time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
}

// DefaultDKIMHeaders are the header fields a DKIM signature covers, each
// oversigned: those a reader sees or a client acts on (RFC 6376 §5.4.1).
var DefaultDKIMHeaders = []string{
	"From", "Reply-To", "Sender", "Subject", "Date", "Message-ID", "To", "Cc",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-Disposition", "Content-Language",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Subscribe", "List-Post", "List-Owner", "List-Archive",
	"Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Date", "Resent-Message-ID",
}

//go:embed default.yaml
var embeddedDefault []byte

// EmbeddedDefault returns the YAML of the configuration `umbra serve` runs
// without --config: a hub on 127.0.0.1:2525 that accepts mail for
// example.test into a Maildir under ./umbra-data and relays nothing else.
func EmbeddedDefault() []byte { return embeddedDefault }

// applyDefaults fills every unset field. The organisation-wide shadow
// switch is the one boolean whose default is true, so decoding starts from
// a Config that has it set (see Parse).
// withoutFinalDot is a domain name as mail names it: one final dot
// (the root, as DNS writes a fully qualified name) removed — only after
// a label: ".", "*." and "a.test.." stay as written, refused by
// validation as no domain under the name the file gives them ("*." is
// not "*", every domain: rt39 F3).
func withoutFinalDot(d string) string {
	rest, ok := strings.CutSuffix(d, ".")
	if !ok || rest == "" || strings.HasSuffix(rest, ".") || strings.HasSuffix(rest, "*") {
		return d
	}
	return rest
}

// The data directory and admin socket of a file that names neither
// (AdminSocketOf reads them too).
const (
	defaultDataDir     = "/var/lib/umbra"
	defaultAdminSocket = "admin.sock"
)

func applyDefaults(c *Config) {
	applyDKIMDefaults(c)
	s := &c.Server
	if s.Role == "" {
		s.Role = "hub"
	}
	if s.DataDir == "" {
		s.DataDir = defaultDataDir
	}
	if s.AdminSocket == "" {
		s.AdminSocket = defaultAdminSocket
	}
	if s.LogFormat == "" {
		s.LogFormat = "text"
	}
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}

	for i := range c.ReceiveConnectors {
		milterDefaults(&c.ReceiveConnectors[i])
	}

	t := &c.Transport
	if len(t.RetrySchedule) == 0 {
		for _, d := range DefaultRetrySchedule {
			t.RetrySchedule = append(t.RetrySchedule, Duration(d))
		}
	}
	setDur(&t.MessageExpiration, DefaultMessageExpiration)
	setDur(&t.ConnectTimeout, DefaultConnectTimeout)
	setDur(&t.MXLookupTimeout, DefaultMXLookupTimeout)
	setDur(&t.CommandTimeout, DefaultCommandTimeout)
	setDur(&t.DataTimeout, DefaultDataTimeout)
	setDur(&t.ShadowHeartbeatTimeout, DefaultShadowHeartbeatTimeout)
	setInt(&t.MaxActive, DefaultMaxActive)
	setInt(&t.PoisonThreshold, DefaultPoisonThreshold)
	setInt(&t.MaxConnectionsPerDestination, DefaultMaxConnectionsPerDest)
	setInt(&t.InitialDestinationConcurrency, DefaultInitialDestConcurrency)
	if t.DeadDestinationCoolDown == 0 {
		// The first retry step, so a
		// message deferred by a dead destination finds it probed again.
		t.DeadDestinationCoolDown = min(t.RetrySchedule[0], Duration(DefaultDeadDestinationCoolDown))
		t.CoolDownDerived = true
	}
	setInt(&t.ShadowHeartbeatRetryCount, DefaultShadowHeartbeatRetryCount)
	setInt(&t.MaxRetriesRemoteSiteShadow, DefaultMaxRetriesRemoteSiteShadow)
	setInt(&t.MaxRetriesLocalSiteShadow, DefaultMaxRetriesLocalSiteShadow)
	setDur(&t.MaxDumpsterTime, DefaultMaxDumpsterTime)
	applyQuarantineDefaults(&t.Quarantine)
	applySpoolDefaults(t)
	setInt(&t.MaxHopCount, DefaultMaxHopCount)
	if t.BounceSizeLimit == 0 {
		t.BounceSizeLimit = DefaultBounceSizeLimit
	}
	at := &c.AuthThrottle
	setDur(&at.Delay, DefaultAuthDelay)
	setDur(&at.MaxDelay, DefaultAuthMaxDelay)
	setInt(&at.LockoutAfter, DefaultAuthLockoutAfter)
	setDur(&at.Lockout, DefaultAuthLockout)
	setDur(&at.Window, DefaultAuthWindow)
	if c.Mailbox.Database == "" {
		c.Mailbox.Database = DefaultMailboxDatabase
	}

	setDur(&c.Console.SessionIdle, DefaultConsoleSessionIdle)
	applyDNSDefaults(&c.DNS)
	setDur(&c.Pickup.Interval, 5*time.Second)
	if c.Pickup.MaxMessageSize == 0 {
		c.Pickup.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.Tracking.Path == "" {
		c.Tracking.Path = "tracking.log"
	}
	if c.Tracking.MaxSize == 0 {
		c.Tracking.MaxSize = DefaultTrackingMaxSize
	}
	setInt(&c.Tracking.MaxFiles, DefaultTrackingMaxFiles)
	setDur(&c.Tracking.MaxAge, DefaultTrackingMaxAge)

	// A domain written with its final dot is the same domain (rt51 F1,
	// F2): kept without it, so that every lookup (validation, routing,
	// address spaces) finds it as mail names it.
	for i := range c.AcceptedDomains {
		c.AcceptedDomains[i].Domain = withoutFinalDot(c.AcceptedDomains[i].Domain)
	}
	for i := range c.SendConnectors {
		for j := range c.SendConnectors[i].AddressSpaces {
			a := &c.SendConnectors[i].AddressSpaces[j]
			a.Domain = withoutFinalDot(a.Domain)
		}
	}
	for i := range c.AcceptedDomains {
		if c.AcceptedDomains[i].Type == "" {
			c.AcceptedDomains[i].Type = DomainAuthoritative
		}
		if d := &c.AcceptedDomains[i]; d.RecipientValidation == "" {
			d.RecipientValidation = map[string]string{DomainAuthoritative: ValidationDirectory,
				DomainInternalRelay: ValidationCallout, DomainExternalRelay: ValidationCallout}[d.Type]
		}
	}
	ldapDefaults(c)
	rateLimitDefaults(c)
	co := &c.Recipients.Callout
	setDur(&co.PositiveTTL, DefaultCalloutPositiveTTL)
	setDur(&co.NegativeTTL, DefaultCalloutNegativeTTL)
	setDur(&co.Timeout, DefaultCalloutTimeout)
	setInt(&co.MaxConcurrent, DefaultCalloutMaxConcurrent)
	setInt(&co.MaxEntries, DefaultCalloutMaxEntries)
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		if len(rc.RemoteRanges) == 0 {
			rc.RemoteRanges = []string{"0.0.0.0/0", "::/0"}
			rc.rangesDefaulted = true
		}
		l := &rc.Limits
		if l.MaxMessageSize == 0 {
			l.MaxMessageSize = DefaultMaxMessageSize
		}
		setInt(&l.MaxRecipients, DefaultMaxRecipients)
		setInt(&l.MaxConnections, DefaultMaxConnections)
		setInt(&l.MaxConnectionsPerSource, DefaultMaxConnectionsPerSource)
		setInt(&l.MaxLineLength, DefaultMaxLineLength)
		setInt(&l.MaxAuthFailures, DefaultMaxAuthFailures)
		setDur(&l.IdleTimeout, DefaultIdleTimeout)
		setInt(&l.MaxJunkCommands, DefaultMaxJunkCommands)
		setInt(&l.MaxErrors, DefaultMaxErrors)
		setInt(&l.SoftErrorLimit, DefaultSoftErrorLimit)
		setDur(&l.ErrorDelay, DefaultErrorDelay)
		setDur(&l.MaxTransactionTime, DefaultMaxTransactionTime)
		setDur(&l.MaxDataTime, DefaultMaxDataTime)
		if l.MinDataRate == 0 {
			l.MinDataRate = DefaultMinDataRate
		}
		if rc.BareNewlines == "" {
			rc.BareNewlines = DefaultBareNewlines
		}
		applyConnectionFilteringDefaults(&rc.ConnectionFiltering)
		applyMsgAuthDefaults(&rc.MessageAuthentication, c.Server.Name)
	}
	for i := range c.SendConnectors {
		sc := &c.SendConnectors[i]
		setInt(&sc.Port, DefaultSMTPPort)
		if sc.TLS == "" {
			sc.TLS = TLSOpportunistic
		}
		// MaxConnections 0: max_connections_per_destination, which the
		// scheduler holds (a reload moves it for known destinations).
	}
	if s.Postmaster == "" {
		s.Postmaster = defaultPostmaster(c) // after the domain types
		s.PostmasterDerived = true
	}
	c.outboundTLSWritten = c.OutboundTLS // before the defaults derived from server
	applyOutboundTLSDefaults(c)          // after the postmaster
	applyBodyMemoryDefault(c)            // after the connectors' limits
}

// defaultPostmaster is postmaster@ the first authoritative domain, else
// postmaster@ the domain of the server's name (nameDomain) where that is
// inside the organisation (insideDomain), else postmaster@ the first
// internal_relay domain (an edge's domains), else none: a bare
// <postmaster> is then refused at RCPT. <postmaster> is taken from
// anyone, so it never defaults to an address that would leave the
// organisation (rt22 F5). Only valid domains are used: a bad one is
// reported at its own line, not again as a bad postmaster.
func defaultPostmaster(c *Config) string {
	pm, _ := derivePostmaster(c)
	return pm
}

// derivePostmaster is defaultPostmaster and what it came from (its
// words for an operator: PostmasterDerivedFrom).
func derivePostmaster(c *Config) (string, string) {
	first := func(typ string) string {
		for _, d := range c.AcceptedDomains {
			if name, err := mailaddr.Name(d.Domain); err == nil && d.Type == typ && !strings.HasPrefix(name, "*.") && IsDomain(name) {
				return "postmaster@" + name
			}
		}
		return ""
	}
	if pm := first(DomainAuthoritative); pm != "" {
		return pm, "the first authoritative domain"
	}
	if dom := nameDomain(c.Server.Name); dom != "" && insideDomain(c, dom) {
		return "postmaster@" + dom, "the domain of server.name"
	}
	return first(DomainInternalRelay), "the first internal_relay domain"
}

// nameDomain is the domain of a server name: the name without its first
// label, or the name itself if it has fewer than three labels; "" for a
// name that is not a host name.
func nameDomain(name string) string {
	name = mailaddr.NameKey(name)
	if !IsDomain(name) {
		return ""
	}
	if _, dom, ok := strings.Cut(name, "."); ok && strings.Contains(dom, ".") {
		return dom
	}
	return name
}

// insideDomain: domain is an authoritative or internal_relay accepted
// domain (exactly, or under a *.wildcard), so mail for it stays inside
// the organisation. external_relay domains are accepted but relayed out.
func insideDomain(c *Config, domain string) bool {
	return c.InsideDomain(domain)
}

// InsideDomain reports whether domain is inside the organisation as c
// has it: an authoritative or internal_relay accepted domain, or under
// such a wildcard. A reload asks it of the running postmaster, which
// only a restart changes (umbra serve's reload).
func (c *Config) InsideDomain(domain string) bool {
	domain = mailaddr.NameKey(domain)
	for _, d := range c.AcceptedDomains {
		if d.Type != DomainAuthoritative && d.Type != DomainInternalRelay {
			continue
		}
		name := mailaddr.NameKey(d.Domain)
		if name == domain || strings.HasPrefix(name, "*.") && strings.HasSuffix(domain, name[1:]) {
			return true
		}
	}
	return false
}

// Back pressure (back_pressure): the common resource monitor defaults
// where they exist (submission queue 2000/10000/15000).
var (
	DefaultBackPressureInterval   = 2 * time.Second
	DefaultBackPressureSlowDelay  = 1 * time.Second
	DefaultBackPressureDisk       = Watermark{Normal: 90, Medium: 94, High: 97}
	DefaultBackPressureDatabase   = SizeWatermark{Normal: 12 << 30, Medium: 14 << 30, High: 16 << 30}
	DefaultBackPressureMemory     = Watermark{Normal: 70, Medium: 75, High: 80}
	DefaultBackPressureSubmission = CountWatermark{Normal: 2000, Medium: 10000, High: 15000}
	DefaultBackPressureTotal      = CountWatermark{Normal: 50000, Medium: 75000, High: 100000}
	DefaultBackPressureSessions   = CountWatermark{Normal: 4000, Medium: 4500, High: 4800}
)

// newWithPresets returns the Config decoding starts from: the fields whose
// zero value is a meaningful setting get their default before decoding, so
// that an explicit "0" or "false" in the file survives.
func newWithPresets() *Config {
	return &Config{
		Transport: Transport{
			ShadowRedundancyEnabled: true,
			DelayNotification:       Duration(DefaultDelayNotification),
			// 0 is meaningful: results commit at once.
			ResultCommitDelay: Duration(DefaultResultCommitDelay),
			// 0 is meaningful: no random spread of the retry times.
			RetryJitter: DefaultRetryJitter,
			// 0 is meaningful: no dumpster.
			MaxDumpsterSizePerDatabase: Size(DefaultMaxDumpsterSize),
			// 0 is meaningful: no bound.
			Quarantine: Quarantine{MaxSize: Size(DefaultQuarantineMaxSize)},
			// 0 is meaningful: no space reserve.
			SpaceReserve: Size(DefaultSpaceReserve),
		},
		Tracking:     Tracking{Enabled: true},
		BackPressure: backPressurePresets(),
		OutboundTLS:  outboundTLSPresets(),
	}
}

// connectorPresets is applied to each receive connector before its YAML is
// decoded, for the same reason.
func connectorPresets() ReceiveConnector {
	return ReceiveConnector{MaxAcknowledgementDelay: Duration(DefaultMaxAcknowledgementDelay), ShadowOnReceipt: DefaultShadowOnReceipt,
		ConnectionFiltering: connectionFilteringPresets()}
}

// Per delivery attempt to a domain's MX hosts (send connectors'
// mx_address_limit and mx_session_limit; 0 in the file: no bound).
const (
	DefaultMXAddressLimit = 5
	DefaultMXSessionLimit = 2
)

// DefaultMXLookupTimeout bounds the MX and address lookups of one
// delivery attempt together (transport.mx_lookup_timeout), between
// MinMXLookupTimeout and MaxMXLookupTimeout.
const (
	DefaultMXLookupTimeout = time.Minute
	MinMXLookupTimeout     = time.Second
	MaxMXLookupTimeout     = 10 * time.Minute
)

// sendConnectorPresets is applied to each send connector before its YAML
// is decoded: 0 is meaningful for the MX limits (no bound).
func sendConnectorPresets() SendConnector {
	return SendConnector{MXAddressLimit: DefaultMXAddressLimit, MXSessionLimit: DefaultMXSessionLimit}
}

func setDur(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}
