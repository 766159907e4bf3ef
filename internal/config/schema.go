package config

import "gopkg.in/yaml.v3"

// Config is a whole server configuration. After Load returns it is never
// modified; a reload builds a new one.
type Config struct {
	Server            Server             `yaml:"server"`
	Transport         Transport          `yaml:"transport"`
	AcceptedDomains   []AcceptedDomain   `yaml:"accepted_domains"`
	ReceiveConnectors []ReceiveConnector `yaml:"receive_connectors"`
	SendConnectors    []SendConnector    `yaml:"send_connectors"`
	Mailbox           Mailbox            `yaml:"mailbox"`
	Tracking          Tracking           `yaml:"tracking"`
	// Pickup is a directory whose *.eml files are submitted (SR-12).
	Pickup Pickup `yaml:"pickup"`
	// Topology is the path of the organisation's topology file (sites,
	// links, servers, databases, connectors); empty: no site routing.
	// Relative paths are resolved against the configuration's directory.
	Topology string `yaml:"topology"`
	// Recipients are the directory sources and the callout settings of
	// recipient validation at RCPT (SMTP-6, package recipients).
	Recipients Recipients `yaml:"recipients"`
	// LDAP is the organisation's directory (ldap.go).
	LDAP LDAP `yaml:"ldap"`

	// AuthThrottle slows and locks out password guessing across
	// connections (every receive connector of the server).
	AuthThrottle AuthThrottle `yaml:"auth_throttle"`

	// Console is the operator's web console (package console); off
	// unless Console.Listen is set.
	Console Console `yaml:"console"`

	// BackPressure refuses or slows new mail when a resource runs short
	// (package backpressure).
	BackPressure BackPressure `yaml:"back_pressure"`

	// DNS is the resolver every lookup goes through (package resolver).
	DNS DNS `yaml:"dns"`

	// OutboundTLS applies destination domains' DANE and MTA-STS policies
	// and sends TLS reports (outboundtls.go).
	OutboundTLS OutboundTLS `yaml:"outbound_tls"`
	// DKIM signs mail leaving the organisation and seals forwarded mail
	// with ARC (package signing).
	DKIM DKIM `yaml:"dkim"`
	// OrganisationAuthservIDs are authserv-ids the organisation's other
	// servers write in Authentication-Results that this configuration
	// does not otherwise name (a server reached by address, a shared id):
	// a result claiming one is removed where mail enters (README "umbra's
	// results are umbra's alone").
	OrganisationAuthservIDs []string `yaml:"organisation_authserv_ids"`

	// File is the path the configuration was read from ("" for the
	// embedded default). Relative paths inside the file are resolved
	// against its directory by Load.
	File string `yaml:"-"`
	// Source is the text the configuration was parsed from (Parse), and
	// TopologySource the topology file's as serve read it with this
	// configuration (nil: none, or not read): the running daemon hands
	// both to route explain (admin GET /v1/config), which then explains
	// what the daemon runs, not a file edited since without a reload.
	Source         []byte `yaml:"-"`
	TopologySource []byte `yaml:"-"`

	// doc is the decoded document, for the lines of later checks
	// (UnreadableFiles).
	doc *yaml.Node
	// pathFaults: the file settings LoadForCheck refused (PathFaults).
	pathFaults [][]any
	// emptyFiles: the file settings written empty that turn a feature
	// off (EmptyFilesOff).
	emptyFiles []explicitZero
	// outboundTLSWritten is OutboundTLS before the defaults derived from
	// the server section (TLS-RPT's from, organization, contact): what
	// a reload compares (OutboundTLSChanged).
	outboundTLSWritten OutboundTLS
}

// Server identifies this transport server and where it keeps its state.
type Server struct {
	// Name is the server's fully qualified name: used in the SMTP banner,
	// EHLO, Received headers, DSNs and (later) as its shadow server id.
	Name string `yaml:"name"`
	// Role is "hub" or "edge".
	Role string `yaml:"role"`
	// DataDir holds the transport database and the default Maildir.
	DataDir string `yaml:"data_dir"`
	// AdminSocket is the Unix socket of the admin API.
	AdminSocket string `yaml:"admin_socket"`
	// MetricsListen is the host:port of the Prometheus /metrics endpoint;
	// empty turns it off.
	MetricsListen string `yaml:"metrics_listen"`
	// SourceAddress is the local IP address outbound connections bind to
	// (net.Dialer.LocalAddr); empty: the system's choice. A send
	// connector's source_address overrides it for that connector.
	SourceAddress string `yaml:"source_address"`
	// AddressTranslated says that the other servers reach this one at
	// its topology address through address translation or a proxy, so
	// no receive connector binds that address; without it, a topology
	// address no binding listens on is refused (CheckTopologyServer).
	AddressTranslated bool `yaml:"address_translated"`
	// LogFormat is "text" or "json"; LogLevel is debug, info, warn or error.
	LogFormat string `yaml:"log_format"`
	LogLevel  string `yaml:"log_level"`
	// Postmaster is the mailbox that "RCPT TO:<postmaster>" (no domain,
	// any case; RFC 5321 §4.5.1) is delivered to. Default
	// postmaster@<first authoritative domain>, else postmaster@<the
	// domain of name> where that is inside the organisation, else
	// postmaster@<first internal_relay domain> (defaultPostmaster).
	Postmaster string `yaml:"postmaster"`
	// PostmasterDerived: the file does not set postmaster; it is derived
	// by defaultPostmaster's rules (a reload names the rule used:
	// PostmasterDerivedFrom).
	PostmasterDerived bool `yaml:"-"`
}

// Transport holds queue, retry and shadow redundancy settings.
type Transport struct {
	// RetrySchedule is the wait after the 1st, 2nd, … failed attempt; the
	// last entry repeats. Each wait gets ±RetryJitter of random spread.
	RetrySchedule []Duration `yaml:"retry_schedule"`
	RetryJitter   float64    `yaml:"retry_jitter"`
	// MessageExpiration bounds how long a message may stay queued before it
	// is returned to its sender with a DSN.
	MessageExpiration Duration `yaml:"message_expiration"`
	// DelayNotification is the age at which the sender gets one "delayed"
	// DSN; 0 turns delay notifications off.
	DelayNotification Duration `yaml:"delay_notification"`
	// MaxActive bounds the messages in delivery at once (the active set).
	MaxActive int `yaml:"max_active"`
	// ResultCommitDelay bounds how long the results of an attempt that
	// nobody waits for may wait to ride along with another commit
	// instead of paying one of their own (queue.Options.DeferLimit); a
	// crash in that time repeats the delivery. 0: each attempt's results
	// commit at once.
	ResultCommitDelay Duration `yaml:"result_commit_delay"`
	// PoisonThreshold is how many crashes a message may be in flight for
	// before it is moved to the poison queue; only a crash while umbra's
	// code ran on it counts — not one while its delivery only waited on
	// the next hop, behind its destination's window or for its results'
	// commit (queue/peerwait.go).
	PoisonThreshold int `yaml:"poison_threshold"`
	// MaxConnectionsPerDestination bounds concurrent outbound connections
	// to one next hop, unless a send connector says otherwise.
	MaxConnectionsPerDestination int `yaml:"max_connections_per_destination"`
	// InitialDestinationConcurrency is a destination's concurrency window
	// when first seen (the scheduler grows it to the limit above on
	// success); DeadDestinationCoolDown is how long a destination found
	// dead (a failed cohort) gets no connection.
	InitialDestinationConcurrency int      `yaml:"initial_destination_concurrency"`
	DeadDestinationCoolDown       Duration `yaml:"dead_destination_cool_down"`
	// CoolDownDerived: the file does not set dead_destination_cool_down;
	// it is the first retry_schedule step (a reload names it so).
	CoolDownDerived bool `yaml:"-"`
	// ConnectTimeout and CommandTimeout bound outbound SMTP steps, and
	// CommandTimeout a message's body without progress too (no byte
	// acknowledged; the whole transfer has no bound, so a slow but
	// steady next hop gets a large message: smtp/bodywatch.go);
	// DataTimeout bounds the wait for the reply to the final dot, from
	// the next hop's last progress.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// MXLookupTimeout bounds the MX and address lookups of one delivery
	// attempt together: MX hosts whose lookups hang hold a delivery
	// slot that long at most, then the attempt goes on with the hosts
	// found, or defers (451 4.4.3).
	MXLookupTimeout Duration `yaml:"mx_lookup_timeout"`
	// ClientCertFile and ClientKeyFile: the certificate this server
	// presents on outbound STARTTLS, naming it to transport servers that
	// authenticate servers by certificate.
	ClientCertFile string   `yaml:"client_cert_file"`
	ClientKeyFile  string   `yaml:"client_key_file"`
	CommandTimeout Duration `yaml:"command_timeout"`
	DataTimeout    Duration `yaml:"data_timeout"`

	// Shadow redundancy (SPEC §2, §8).
	ShadowRedundancyEnabled   bool     `yaml:"shadow_redundancy_enabled"`
	ShadowHeartbeatTimeout    Duration `yaml:"shadow_heartbeat_timeout"`
	ShadowHeartbeatRetryCount int      `yaml:"shadow_heartbeat_retry_count"`
	// Shadow on receipt (SR-17): how many transport servers of another
	// site, and of this site, a receive connector with shadow_on_receipt
	// tries before it gives up on the copy.
	MaxRetriesRemoteSiteShadow int `yaml:"max_retries_remote_site_shadow"`
	MaxRetriesLocalSiteShadow  int `yaml:"max_retries_local_site_shadow"`

	// Transport dumpster (SPEC §4): after final delivery a copy stays per
	// mailbox database, at most MaxDumpsterSizePerDatabase bytes and
	// MaxDumpsterTime old (the oldest goes first), for redelivery after
	// a mailbox failover. A size of 0 turns the dumpster off.
	MaxDumpsterSizePerDatabase Size     `yaml:"max_dumpster_size_per_database"`
	MaxDumpsterTime            Duration `yaml:"max_dumpster_time"`

	// MaxHopCount bounds the Received: headers a message may carry: more
	// is a mail loop (554 5.4.6 at receipt, where mail entering the
	// organisation must leave room for min(10, MaxHopCount/2) more hops;
	// a DSN, no relay, on the way out, where the next hop's header would
	// be one more). See internal/smtp policy.go.
	MaxHopCount int `yaml:"max_hop_count"`
	// BounceSizeLimit caps the original content a DSN returns: a message
	// bigger than this comes back as its header section only
	// (text/rfc822-headers).
	BounceSizeLimit Size `yaml:"bounce_size_limit"`
	// Quarantine: expiry of quarantined mail (quarantine.go).
	Quarantine Quarantine `yaml:"quarantine"`
	// SpoolThreshold: a received body past it goes to a spool file as it
	// is read; MaxHeaderSize bounds the header section kept in memory
	// (spool.go).
	SpoolThreshold Size `yaml:"spool_threshold"`
	// SpaceReserve is the size of the space reserve umbra keeps in
	// data_dir (queue/spacereserve.go): given up on a full disk for the
	// commits that free room or keep mail (a takeover, delivery results,
	// discards). Without the key DefaultSpaceReserve (newWithPresets);
	// 0: no reserve (a file an earlier start left is removed); at most
	// 1/16 of the file system's size.
	SpaceReserve  Size `yaml:"space_reserve"`
	MaxHeaderSize Size `yaml:"max_header_size"`
	// BodyMemoryLimit caps the bytes of received bodies held in memory
	// across every session (spool.go).
	BodyMemoryLimit Size `yaml:"body_memory_limit"`
	// BodyMemoryDerived: the file does not set body_memory_limit, and
	// its value is the default derived from the receive connectors.
	BodyMemoryDerived bool `yaml:"-"`
}

// Accepted domain types.
const (
	DomainAuthoritative = "authoritative"
	DomainInternalRelay = "internal_relay"
	DomainExternalRelay = "external_relay"
)

// AcceptedDomain is a domain this organisation accepts mail for.
// Authoritative domains are delivered locally (Maildir or LMTP); relay
// domains are accepted from anyone and sent on through send connectors.
type AcceptedDomain struct {
	Domain string `yaml:"domain"`
	Type   string `yaml:"type"`
	// RecipientValidation is how RCPT is checked for the domain:
	// directory (the topology's addresses, recipients.file and
	// recipients.addresses decide), callout (listed addresses are
	// known; others are asked of the next hop, with a persistent cache)
	// or off (every local part accepted). Default: directory for
	// authoritative domains, callout for internal_relay and
	// external_relay ones.
	RecipientValidation string `yaml:"recipient_validation"`
}

// Recipient validation modes.
const (
	ValidationDirectory = "directory"
	ValidationCallout   = "callout"
	ValidationOff       = "off"
)

// Recipients configures the sources of recipient validation.
type Recipients struct {
	// File holds "user@domain" and "@domain" (catch-all) lines, with "#"
	// comments; reloaded on SIGHUP. Relative to the configuration's
	// directory.
	File string `yaml:"file"`
	// Addresses are entries of the same form, in the configuration.
	Addresses []string `yaml:"addresses"`
	// Callout configures the address verification of callout domains.
	Callout Callout `yaml:"callout"`
}

// Callout configures recipient verification at the next hop.
type Callout struct {
	// PositiveTTL and NegativeTTL: how long an accepted / refused answer
	// is used without asking again. Past its TTL an answer still decides
	// while the next hop cannot answer, until it is four TTLs old.
	PositiveTTL Duration `yaml:"positive_ttl"`
	NegativeTTL Duration `yaml:"negative_ttl"`
	// Timeout bounds one callout session.
	Timeout Duration `yaml:"timeout"`
	// MaxConcurrent bounds callouts in flight.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxEntries bounds the answers kept in the transport database;
	// past it negative answers are evicted first, then the oldest
	// positive ones.
	MaxEntries int `yaml:"max_entries"`
}

// Receive connector rights.
const (
	RightSubmit        = "submit"         // may send mail to accepted domains
	RightRelay         = "relay"          // may send mail to any domain
	RightAcceptXShadow = "accept-xshadow" // may open a shadow session
)

// ReceiveConnector says how mail comes in: where it listens, whom it
// serves, what they may do and within which limits.
type ReceiveConnector struct {
	Name string `yaml:"name"`
	// Bindings are host:port addresses to listen on. Several connectors
	// may share a binding; a connection goes to the connector whose
	// RemoteRanges match the client most specifically.
	Bindings     []string    `yaml:"bindings"`
	RemoteRanges []string    `yaml:"remote_ranges"`
	Banner       string      `yaml:"banner"`
	TLS          TLS         `yaml:"tls"`
	Auth         Auth        `yaml:"auth"`
	Permissions  Permissions `yaml:"permissions"`
	// ExternallySecured marks a connector whose network path is protected
	// outside umbra (e.g. IPsec): its sessions count as transport servers.
	ExternallySecured bool `yaml:"externally_secured"`
	// BareNewlines says what a message with a bare CR or bare LF gets:
	// "reject" (554 5.6.0, the default) or "normalize" (each becomes
	// CRLF).
	BareNewlines string `yaml:"bare_newlines"`
	Limits       Limits `yaml:"limits"`
	// RateLimits per address, network, user and sender domain (ratelimit.go).
	RateLimits RateLimits `yaml:"rate_limits"`
	// MaxAcknowledgementDelay bounds how long the final reply to a
	// non-shadow sender is withheld (SR-9); 0 turns delaying off. At
	// most MaxAcknowledgementDelayLimit.
	MaxAcknowledgementDelay Duration `yaml:"max_acknowledgement_delay"`
	// ShadowOnReceipt makes a shadow copy of each message on another
	// transport server before the 250 (SR-17): off, prefer-remote (a
	// server of another site, else of this one), remote-only or
	// local-only. When it is on, it replaces delayed acknowledgement for
	// the connector's messages: the two never both delay one message.
	ShadowOnReceipt string `yaml:"shadow_on_receipt"`
	// RejectOnShadowFailure answers 451 4.4.0 when no shadow server took
	// a connection for the copy; otherwise the message is accepted with
	// one copy only (counted and logged).
	RejectOnShadowFailure bool `yaml:"reject_on_shadow_failure"`
	// ConnectionFiltering: DNS blocklists at connect and HELO checks.
	ConnectionFiltering ConnectionFiltering `yaml:"connection_filtering"`
	// MessageAuthentication: SPF, DKIM, DMARC, ARC (msgauth.go).
	MessageAuthentication MessageAuthentication `yaml:"message_authentication"`
	// DKIMSign marks the connector's mail as originating inside the
	// organisation (application servers relaying through it), so it is
	// DKIM-signed when it leaves, as authenticated submissions are.
	DKIMSign bool `yaml:"dkim_sign"`
	// Milters are asked in order at every stage (milter.go).
	Milters []Milter `yaml:"milters"`

	// rangesDefaulted: remote_ranges was not written and applyDefaults
	// gave it every address (checkOpenRelay words its error so).
	rangesDefaulted bool
}

// Values of shadow_on_receipt.
const (
	ShadowOnReceiptOff          = "off"
	ShadowOnReceiptPreferRemote = "prefer-remote"
	ShadowOnReceiptRemoteOnly   = "remote-only"
	ShadowOnReceiptLocalOnly    = "local-only"
)

// TLS configures STARTTLS on a receive connector.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Required makes MAIL fail with 530 5.7.0 until STARTTLS succeeded.
	Required bool `yaml:"required"`
	// ClientCAFile holds the organisation's CA certificates: a client
	// presenting a certificate they verify is a transport server, named
	// by the certificate's DNS names and common name (SR-1).
	ClientCAFile string `yaml:"client_ca_file"`
}

// Auth configures SMTP AUTH on a receive connector.
type Auth struct {
	// Mechanisms offered: PLAIN and/or LOGIN. Empty turns AUTH off, and
	// then the settings below are refused if written (authOffSettings).
	Mechanisms []string `yaml:"mechanisms"`
	// CredentialsFile holds "name:bcrypt-hash[:server]" lines; the server
	// flag marks transport server accounts.
	CredentialsFile string `yaml:"credentials_file"`
	// LDAP verifies AUTH against the directory (ldap.account_filter)
	// too, after the credentials file.
	LDAP bool `yaml:"ldap"`
	// Required makes MAIL fail with 530 5.7.0 before a successful AUTH.
	Required bool `yaml:"required"`
	// AllowInsecure offers AUTH before STARTTLS. Only for loopback or
	// otherwise protected networks.
	AllowInsecure bool `yaml:"allow_insecure"`
}

// Permissions grant rights to the three kinds of session a connector
// can have (anonymous, authenticated, transport server).
type Permissions struct {
	Anonymous     []string `yaml:"anonymous"`
	Authenticated []string `yaml:"authenticated"`
	Servers       []string `yaml:"servers"`
}

// Limits bound what one connector accepts.
type Limits struct {
	MaxMessageSize          Size     `yaml:"max_message_size"`
	MaxRecipients           int      `yaml:"max_recipients"`
	MaxConnections          int      `yaml:"max_connections"`
	MaxConnectionsPerSource int      `yaml:"max_connections_per_source"`
	MaxLineLength           int      `yaml:"max_line_length"`
	IdleTimeout             Duration `yaml:"idle_timeout"`
	MaxAuthFailures         int      `yaml:"max_auth_failures"`
	// MaxJunkCommands bounds the commands a session may send outside a
	// mail transaction since its last accepted message; transport
	// servers are exempt.
	MaxJunkCommands int `yaml:"max_junk_commands"`
	// MaxErrors bounds the error replies of a session since its last
	// accepted message.
	MaxErrors int `yaml:"max_errors"`
	// SoftErrorLimit: past this many errors each further reply waits
	// ErrorDelay.
	SoftErrorLimit int      `yaml:"soft_error_limit"`
	ErrorDelay     Duration `yaml:"error_delay"`
	// MinDataRate is the slowest a message (DATA body, or a BDAT transfer over all its chunks) may arrive,
	// in bytes per second, after an idle_timeout of grace: a trickle
	// cannot hold a session.
	MinDataRate Size `yaml:"min_data_rate"`
	// MaxTransactionTime bounds a mail transaction's command phase, from
	// MAIL to DATA or the first BDAT chunk (the transfer itself is
	// bounded by MinDataRate): a client cannot hold a session with a
	// transaction it never completes. Transport servers are exempt.
	MaxTransactionTime Duration `yaml:"max_transaction_time"`
	// MaxDataTime bounds a message's whole transfer, a DATA body from
	// its 354 or a BDAT transfer from its first chunk to LAST: a client
	// that keeps just above MinDataRate cannot hold a session for
	// max_message_size/min_data_rate (hours). Transport servers are
	// exempt. 0 after defaults never happens (default 1h).
	MaxDataTime Duration `yaml:"max_data_time"`
}

// AuthThrottle: every failed AUTH is answered after a delay that doubles
// with each failure of the same source address (IPv6: its /64) or the
// same account name within Window, from Delay up to MaxDelay. A source
// with LockoutAfter failures within Window is locked out for Lockout:
// its AUTH commands get 454 4.7.0 without a password check. An account
// is never locked out (only delayed), so that nobody can lock a
// transport server out of its hub by guessing its password.
type AuthThrottle struct {
	Delay        Duration `yaml:"delay"`
	MaxDelay     Duration `yaml:"max_delay"`
	LockoutAfter int      `yaml:"lockout_after"`
	Lockout      Duration `yaml:"lockout"`
	Window       Duration `yaml:"window"`
}

// What a receive connector does with bare CR and bare LF in a message.
const (
	BareNewlinesReject    = "reject"
	BareNewlinesNormalize = "normalize"
)

// TLS policies of a send connector.
const (
	TLSNone          = "none"
	TLSOpportunistic = "opportunistic"
	TLSRequired      = "required"
	TLSVerify        = "verify"
)

// SendConnector says how mail leaves for the domains of its address spaces.
type SendConnector struct {
	Name          string         `yaml:"name"`
	AddressSpaces []AddressSpace `yaml:"address_spaces"`
	// SmartHosts are host or host:port; empty means MX resolution.
	SmartHosts []string `yaml:"smart_hosts"`
	// Port is used for MX hosts and smart hosts without a port.
	Port int `yaml:"port"`
	// TLS is none, opportunistic, required (encrypted, unverified) or
	// verify (encrypted, certificate checked against the host name).
	TLS  string   `yaml:"tls"`
	Auth SendAuth `yaml:"auth"`
	// MaxMessageSize bounces bigger messages instead of trying them.
	MaxMessageSize Size `yaml:"max_message_size"`
	// MaxConnections bounds concurrent connections per destination.
	MaxConnections int `yaml:"max_connections"`
	// MXAddressLimit bounds the MX host addresses one delivery attempt
	// connects to, in preference order (0: no bound); MXSessionLimit the
	// hosts among them that answer SMTP (greet, refuse, fail TLS) in one
	// attempt (0: no bound). Smart hosts are not bounded.
	MXAddressLimit int `yaml:"mx_address_limit"`
	MXSessionLimit int `yaml:"mx_session_limit"`
	// SendXShadow grants the send-xshadow right: open a shadow session
	// when the next hop offers XSHADOW (SR-1).
	SendXShadow bool `yaml:"send_xshadow"`
	// SourceAddress is the local IP address this connector's connections
	// bind to; empty: server.source_address.
	SourceAddress string `yaml:"source_address"`
	// Enabled defaults to true; a disabled connector is skipped.
	Enabled *bool `yaml:"enabled"`
}

// IsEnabled reports whether the connector takes part in routing.
func (s *SendConnector) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// AddressSpace is a domain pattern ("example.org", "*.example.org", "*")
// with the cost of using the connector for it.
type AddressSpace struct {
	Domain string `yaml:"domain"`
	Cost   int    `yaml:"cost"`
}

// SendAuth authenticates umbra to a smart host.
type SendAuth struct {
	Username string `yaml:"username"`
	// PasswordFile holds the password on its first line, so that the
	// configuration itself never contains a secret; a byte-order mark at
	// its start and the line end (LF or CRLF) are no part of it
	// (filelimit.Secret).
	PasswordFile string `yaml:"password_file"`
}

// Mailbox configures final delivery for authoritative domains: into a
// Maildir tree, or over LMTP to a mailbox server.
type Mailbox struct {
	// Maildir is the root of <root>/<domain>/<local-part>/{tmp,new,cur}.
	Maildir string `yaml:"maildir"`
	// LMTP is host:port or unix:/path of an LMTP server.
	LMTP string `yaml:"lmtp"`
	// Database names the mailbox database behind Maildir or LMTP: its
	// delivery queue is mailbox:DATABASE, and its dumpster and duplicate
	// record carry the name. Default "local".
	Database string `yaml:"database"`
}

// Tracking configures the message tracking log.
type Tracking struct {
	// Enabled defaults to true.
	Enabled bool `yaml:"enabled"`
	// Path of the log; relative paths are under the data directory.
	Path string `yaml:"path"`
	// MaxSize rotates the file; MaxFiles rotated files are kept.
	MaxSize  Size `yaml:"max_size"`
	MaxFiles int  `yaml:"max_files"`
	// MaxAge deletes rotated files whose last line is older (the current
	// file rotates daily then).
	MaxAge Duration `yaml:"max_age"`
}

// Pickup configures the pickup directory.
type Pickup struct {
	// Directory is scanned for *.eml files; empty turns pickup off.
	// Relative paths are under the data directory.
	Directory      string   `yaml:"directory"`
	Interval       Duration `yaml:"interval"`
	MaxMessageSize Size     `yaml:"max_message_size"`
}

// Console configures the web console: its own HTTPS listener with a login
// against a credentials file.
type Console struct {
	// Listen is host:port; empty (the default) turns the console off. It
	// must be a loopback address unless AllowRemote is set.
	Listen      string `yaml:"listen"`
	AllowRemote bool   `yaml:"allow_remote"`
	// CertFile and KeyFile are the console's certificate; empty: the
	// first receive connector's TLS certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CredentialsFile holds "name:bcrypt-hash" lines (the receive
	// connectors' format; server accounts cannot log in); empty: the
	// first receive connector's AUTH credentials file.
	CredentialsFile string `yaml:"credentials_file"`
	// Hosts are further host[:port] names the browser may use in the Host
	// header besides the listen address (and localhost on loopback).
	Hosts []string `yaml:"hosts"`
	// SessionIdle ends a login after this long without a request.
	SessionIdle Duration `yaml:"session_idle"`
}
