package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"umbra/internal/mailaddr"
)

type violation struct {
	path []any
	msg  string
	// reads are the other keys a check that compares settings read
	// (the violation is at path, the key blamed): when one of them did
	// not parse it holds the default it fell back to, and the check is
	// not reported — it would blame a value nobody wrote (leftOut).
	reads [][]any
	// unitMsg, when set, is msg for a value written with a unit
	// (unitValue: the value as written): msg says "a size without a unit is
	// bytes", which is no help to an operator who wrote one (rt39 F3:
	// 20KiB was told so). Chosen where the file's node is at hand
	// (violations, floorMsg).
	unitMsg string
}

// unitValue stands in a violation's unitMsg for the value as written (a
// setting's name in the message may hold any printable character).
const unitValue = "\x00"

// addSized is add for a size below a floor: msg for a value written
// without a unit (or not known as written), unitMsg (unitValue for the
// value as written) for one written with a unit.
func (v *validator) addSized(msg, unitMsg string, path ...any) {
	v.out = append(v.out, violation{path: path, msg: msg, unitMsg: unitMsg})
}

type validator struct{ out []violation }

func (v *validator) add(msg string, path ...any) {
	v.out = append(v.out, violation{path: path, msg: msg})
}

// compare is add for a check that compares the key at path with the
// keys of reads.
func (v *validator) compare(msg string, reads [][]any, path ...any) {
	v.out = append(v.out, violation{path: path, msg: msg, reads: reads})
}

// validate checks everything the decoder cannot: values, references and
// combinations. Paths point into the YAML tree so errors get their line.
func validate(c *Config) []violation {
	v := &validator{}
	s := c.Server
	if s.Name == "" {
		v.add("server.name is required (the server's fully qualified name)", "server")
	} else if mailaddr.IPText(s.Name) {
		// An address is no host name: umbra would greet next hops with
		// "EHLO 127.0.0.34", which is neither a Domain nor an address
		// literal (RFC 5321 §4.1.1.1), and name itself so in banners,
		// Received fields and DSNs.
		v.add(fmt.Sprintf("server.name %q is an IP address, not a host name: give this server's fully qualified domain name "+
			"(it is the EHLO name next hops see; an address literal such as [192.0.2.1] is no host name either)", s.Name), "server", "name")
	} else if !IsDomain(s.Name) {
		v.add(fmt.Sprintf("server.name %q is not a host name", s.Name), "server", "name")
	}
	for i, id := range c.OrganisationAuthservIDs {
		if id == "" || !validAuthservID(id) {
			v.add(fmt.Sprintf("organisation_authserv_ids: %q: want a token without spaces, quotes or semicolons", id), "organisation_authserv_ids", i)
		}
	}
	if s.Role != "hub" && s.Role != "edge" {
		v.add(fmt.Sprintf("server.role must be hub or edge, not %q", s.Role), "server", "role")
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		v.add(fmt.Sprintf("server.log_format must be text or json, not %q", s.LogFormat), "server", "log_format")
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.add(fmt.Sprintf("server.log_level must be debug, info, warn or error, not %q", s.LogLevel), "server", "log_level")
	}
	if s.Postmaster != "" && !validMailbox(s.Postmaster) {
		msg := fmt.Sprintf("server.postmaster %q is not a mailbox address (local-part@domain)", s.Postmaster)
		if fixed, ok := strings.CutSuffix(s.Postmaster, "."); ok && validMailbox(fixed) {
			msg = fmt.Sprintf("server.postmaster %q: an address's domain has no final dot (write %s without the final dot)", s.Postmaster, fixed)
		}
		v.add(msg, "server", "postmaster")
	} else if _, dom, _ := strings.Cut(s.Postmaster, "@"); s.Postmaster != "" && !insideDomain(c, dom) {
		// <postmaster> is taken from anyone: a postmaster elsewhere would
		// relay their mail out of the organisation (rt22 F5).
		v.add(fmt.Sprintf("server.postmaster %q is not in an authoritative or internal_relay accepted domain: "+
			"RCPT TO:<postmaster> is accepted from anyone, and would relay their mail out of the organisation", s.Postmaster), "server", "postmaster")
	}
	if s.MetricsListen != "" {
		if err := checkHostPort(s.MetricsListen); err != nil {
			v.add(fmt.Sprintf("server.metrics_listen: %v", err), "server", "metrics_listen")
		}
	}
	if msg := checkSourceAddress(s.SourceAddress); msg != "" {
		v.add("server.source_address "+msg, "server", "source_address")
	}

	t := c.Transport
	for i, d := range t.RetrySchedule {
		if d <= 0 {
			v.add("retry_schedule entries must be positive", "transport", "retry_schedule", i)
		} else {
			subSecond(v, fmt.Sprintf("transport.retry_schedule[%d]", i), d, "every deferred message would be attempted again at once", "transport", "retry_schedule", i)
		}
	}
	if (t.ClientCertFile == "") != (t.ClientKeyFile == "") {
		v.compare("transport needs both client_cert_file and client_key_file", [][]any{{"transport", "client_cert_file"}, {"transport", "client_key_file"}}, "transport")
	}
	if t.RetryJitter < 0 || t.RetryJitter >= 1 {
		v.add("transport.retry_jitter must be in [0, 1)", "transport", "retry_jitter")
	}
	if t.DelayNotification.D() >= t.MessageExpiration.D() && t.DelayNotification != 0 {
		// Blame the setting the operator wrote: message_expiration when
		// delay_notification is not in the file — and say that its
		// value is the default, which the file does not set (rt36 F4).
		key, dn := "delay_notification", t.DelayNotification.D().String()
		if !c.Written("transport", "delay_notification") {
			key, dn = "message_expiration", dn+", its default: the file does not set it"
		}
		v.compare(fmt.Sprintf("transport.delay_notification (%s) must be shorter than message_expiration (%s)",
			dn, t.MessageExpiration.D()),
			[][]any{{"transport", "delay_notification"}, {"transport", "message_expiration"}}, "transport", key)
	}
	for _, f := range []struct {
		key string
		d   Duration
	}{{"connect_timeout", t.ConnectTimeout}, {"command_timeout", t.CommandTimeout}, {"data_timeout", t.DataTimeout}} {
		subSecond(v, "transport."+f.key, f.d, "every delivery would time out", "transport", f.key)
	}
	durationFloor(v, "transport.mx_lookup_timeout", t.MXLookupTimeout, MinMXLookupTimeout,
		"a delivery attempt could not wait for one DNS answer", "transport", "mx_lookup_timeout")
	durationCeiling(v, "transport.mx_lookup_timeout", t.MXLookupTimeout, MaxMXLookupTimeout,
		"one attempt would hold a delivery slot that long on hanging lookups", "transport", "mx_lookup_timeout")
	subSecond(v, "transport.shadow_heartbeat_timeout", t.ShadowHeartbeatTimeout,
		"every primary would be taken over, and its mail delivered twice", "transport", "shadow_heartbeat_timeout")
	subSecond(v, "transport.message_expiration", t.MessageExpiration, "every message not delivered at once would expire", "transport", "message_expiration")
	intIn(v, t.MaxActive, "transport", "max_active")
	if t.ResultCommitDelay < 0 || t.ResultCommitDelay.D() > MaxResultCommitDelay {
		v.add(fmt.Sprintf("transport.result_commit_delay must be between 0s and %s", MaxResultCommitDelay), "transport", "result_commit_delay")
	}
	intIn(v, t.PoisonThreshold, "transport", "poison_threshold")
	intIn(v, t.InitialDestinationConcurrency, "transport", "initial_destination_concurrency")
	if t.DeadDestinationCoolDown < 0 {
		v.add("transport.dead_destination_cool_down must not be negative", "transport", "dead_destination_cool_down")
	}
	intIn(v, t.MaxHopCount, "transport", "max_hop_count")
	if t.BounceSizeLimit < 0 {
		v.add("transport.bounce_size_limit must not be negative", "transport", "bounce_size_limit")
	}
	unitFloor(v, "transport.bounce_size_limit", int64(t.BounceSizeLimit), MinBounceSizeLimit, "4KiB", "KiB", "50KiB",
		"no DSN would return a message whole, not even a short one", "transport", "bounce_size_limit")
	at := c.AuthThrottle
	intIn(v, at.LockoutAfter, "auth_throttle", "lockout_after")
	if at.Delay < 0 || at.MaxDelay < 0 || at.Lockout < 0 || at.Window < 0 {
		v.add("auth_throttle values must not be negative", "auth_throttle")
	} else if at.MaxDelay < at.Delay {
		v.compare("auth_throttle.max_delay must be at least delay", [][]any{{"auth_throttle", "delay"}}, "auth_throttle", "max_delay")
	}
	intIn(v, t.ShadowHeartbeatRetryCount, "transport", "shadow_heartbeat_retry_count")
	intIn(v, t.MaxRetriesRemoteSiteShadow, "transport", "max_retries_remote_site_shadow")
	intIn(v, t.MaxRetriesLocalSiteShadow, "transport", "max_retries_local_site_shadow")

	authoritative := false
	domains := map[string]bool{}
	for i, d := range c.AcceptedDomains {
		// Compared as its A-label (mailaddr.Domain): bücher.example and
		// xn--bcher-kva.example are one domain, listed once.
		name, err := mailaddr.Domain(d.Domain)
		if err != nil {
			v.add(fmt.Sprintf("accepted domain %q: %v", d.Domain, err), "accepted_domains", i, "domain")
		} else if !IsDomain(strings.TrimPrefix(name, "*.")) {
			v.add(fmt.Sprintf("accepted domain %q is not a domain name", d.Domain), "accepted_domains", i, "domain")
		}
		if domains[name] {
			v.add(fmt.Sprintf("accepted domain %q is listed twice", d.Domain), "accepted_domains", i, "domain")
		}
		domains[name] = true
		switch d.Type {
		case DomainAuthoritative:
			authoritative = true
		case DomainInternalRelay, DomainExternalRelay:
		default:
			v.add(fmt.Sprintf("accepted domain type must be authoritative, internal_relay or external_relay, not %q", d.Type),
				"accepted_domains", i, "type")
		}
		validateRecipientValidation(v, c, i, d)
	}
	validateRecipients(v, c.Recipients)
	validateLDAP(v, c)
	validateRateLimits(v, c)

	if len(c.ReceiveConnectors) == 0 {
		v.add("at least one receive connector is required", "receive_connectors")
	}
	names := map[string]bool{}
	type bindRange struct{ bind, rng string }
	seenBind := map[bindRange]string{}
	for i, rc := range c.ReceiveConnectors {
		at := func(p ...any) []any { return append([]any{"receive_connectors", i}, p...) }
		if rc.Name == "" {
			v.add("receive connector needs a name", at()...)
		} else if names["r:"+rc.Name] {
			v.add(fmt.Sprintf("receive connector %q is defined twice", rc.Name), at("name")...)
		}
		names["r:"+rc.Name] = true
		if msg := protocolTextProblem(rc.Banner); msg != "" && rc.Banner != "" {
			// The banner is written into the 220 greeting: a CR/LF
			// would add a reply line of its own and put every client
			// one reply out of step; spaces alone greet with no name.
			v.add(fmt.Sprintf("receive connector %q: banner %q %s: write the greeting's text in printable ASCII, "+
				"or leave the key out for the server name", rc.Name, rc.Banner, msg), at("banner")...)
		}
		if msg := protocolTextProblem(rc.Name); msg != "" && rc.Name != "" {
			// The name is the milters' {daemon_name}, a NUL-terminated
			// macro value.
			v.add(fmt.Sprintf("receive connector name %q %s: write printable ASCII", rc.Name, msg), at("name")...)
		}
		if len(rc.Bindings) == 0 {
			v.add(fmt.Sprintf("receive connector %q needs at least one binding", rc.Name), at()...)
		}
		for j, b := range rc.Bindings {
			if err := checkHostPort(b); err != nil {
				v.add(fmt.Sprintf("binding %q: %v", b, err), at("bindings", j)...)
			}
		}
		for j, r := range rc.RemoteRanges {
			p, err := ParseRange(r)
			if err != nil {
				v.add(fmt.Sprintf("remote range %q %s", r, rangeProblem(err, "a CIDR prefix")), at("remote_ranges", j)...)
				continue
			}
			for _, b := range rc.Bindings {
				key := bindRange{b, p.Masked().String()}
				if other, dup := seenBind[key]; dup && other != rc.Name {
					v.add(fmt.Sprintf("connectors %q and %q both serve %s from %s: a connection could go to either",
						other, rc.Name, b, r), at("remote_ranges", j)...)
				}
				seenBind[key] = rc.Name
			}
		}
		if (rc.TLS.CertFile == "") != (rc.TLS.KeyFile == "") {
			v.add("tls needs both cert_file and key_file", at("tls")...)
		}
		if rc.TLS.ClientCAFile != "" && rc.TLS.CertFile == "" {
			v.compare("tls.client_ca_file needs cert_file and key_file", [][]any{at("tls", "cert_file"), at("tls", "key_file")}, at("tls", "client_ca_file")...)
		}
		if rc.TLS.Required && rc.TLS.CertFile == "" {
			v.compare("tls.required needs cert_file and key_file", [][]any{at("tls", "cert_file"), at("tls", "key_file")}, at("tls", "required")...)
		}
		for j, m := range rc.Auth.Mechanisms {
			if m != "PLAIN" && m != "LOGIN" {
				v.add(fmt.Sprintf("auth mechanism %q is not supported (PLAIN, LOGIN)", m), at("auth", "mechanisms", j)...)
			}
		}
		if len(rc.Auth.Mechanisms) > 0 && rc.Auth.CredentialsFile == "" && !rc.Auth.LDAP {
			v.add("auth.mechanisms need auth.credentials_file or auth.ldap", at("auth")...)
		}
		if rc.Auth.Required && len(rc.Auth.Mechanisms) == 0 {
			v.compare("auth.required needs auth.mechanisms", [][]any{at("auth", "mechanisms")}, at("auth", "required")...)
		}
		if len(rc.Auth.Mechanisms) == 0 {
			authOffSettings(v, c, rc, at)
		}
		// A session is a transport server by a server account's AUTH,
		// a client certificate client_ca_file verifies, or an
		// externally secured connector: without any of them the rights
		// of permissions.servers reach no session.
		if c.Written(at("permissions", "servers")...) && len(rc.Permissions.Servers) > 0 &&
			len(rc.Auth.Mechanisms) == 0 && rc.TLS.ClientCAFile == "" && !rc.ExternallySecured {
			v.compare(fmt.Sprintf("%s is set but no session of this connector can be a transport server (no auth.mechanisms for a server account, "+
				"no tls.client_ca_file for a certificate, not externally_secured): its rights reach no session; remove the key or "+
				"let servers in by one of those", settingName(at("permissions", "servers"))),
				[][]any{at("auth", "mechanisms"), at("tls", "client_ca_file"), at("externally_secured")}, at("permissions", "servers")...)
		}
		if rc.Auth.AllowInsecure && rc.TLS.Required && len(rc.Auth.Mechanisms) > 0 {
			// tls.required wins (package smtp): allow_insecure would take
			// no login in clear, and an operator who wrote it believed
			// it would — refused at its line, as the auth settings of a
			// connector offering no AUTH are (authOffSettings).
			v.compare(fmt.Sprintf("%s is set but %s is true, so this connector takes no AUTH before STARTTLS and allow_insecure does nothing; remove the key",
				settingName(at("auth", "allow_insecure")), settingName(at("tls", "required"))),
				[][]any{at("tls", "required")}, at("auth", "allow_insecure")...)
		}
		if len(rc.Auth.Mechanisms) > 0 && !rc.Auth.AllowInsecure && rc.TLS.CertFile == "" {
			v.add("auth without TLS needs auth.allow_insecure: true (credentials would cross the network in clear)", at("auth")...)
		}
		checkRights(v, rc.Permissions.Anonymous, at("permissions", "anonymous"))
		checkRights(v, rc.Permissions.Authenticated, at("permissions", "authenticated"))
		checkRights(v, rc.Permissions.Servers, at("permissions", "servers"))
		checkOpenRelay(v, rc, !rc.rangesDefaulted, at)
		// accept-xshadow is a transport server's right. Given to the
		// anonymous or authenticated class it could only reach the
		// transport servers among them (which permissions.servers
		// names) while XSHADOW was advertised to every session of the
		// class: a mistake, not a grant. On an externally secured
		// connector every session is a transport server.
		if !rc.ExternallySecured {
			for _, class := range []struct {
				name   string
				rights []string
			}{{"anonymous", rc.Permissions.Anonymous}, {"authenticated", rc.Permissions.Authenticated}} {
				if j := slices.Index(class.rights, RightAcceptXShadow); j >= 0 {
					v.add(fmt.Sprintf("accept-xshadow in permissions.%s: only a transport server opens a shadow session, and an %s session is none "+
						"on a connector that is not externally_secured; grant it in permissions.servers", class.name, class.name),
						at("permissions", class.name, j)...)
				}
			}
		}
		validateConnectionFiltering(v, rc.ConnectionFiltering, at)
		l := rc.Limits
		for _, f := range []struct {
			name string
			val  int64
		}{
			{"max_message_size", int64(l.MaxMessageSize)}, {"max_recipients", int64(l.MaxRecipients)},
			{"max_connections", int64(l.MaxConnections)}, {"max_connections_per_source", int64(l.MaxConnectionsPerSource)},
			{"max_line_length", int64(l.MaxLineLength)}, {"idle_timeout", int64(l.IdleTimeout)},
			{"max_auth_failures", int64(l.MaxAuthFailures)},
			{"max_junk_commands", int64(l.MaxJunkCommands)}, {"max_errors", int64(l.MaxErrors)}, {"min_data_rate", int64(l.MinDataRate)},
			{"soft_error_limit", int64(l.SoftErrorLimit)}, {"error_delay", int64(l.ErrorDelay)},
			{"max_transaction_time", int64(l.MaxTransactionTime)}, {"max_data_time", int64(l.MaxDataTime)},
		} {
			if f.val < 0 {
				v.add(settingName(at("limits", f.name))+" must be positive", at("limits", f.name)...)
			}
		}
		messageSizeTooSmall(v, settingName(at("limits", "max_message_size")), l.MaxMessageSize, at("limits", "max_message_size")...)
		subSecond(v, settingName(at("limits", "idle_timeout")), l.IdleTimeout, "every session would be cut before a client could answer", at("limits", "idle_timeout")...)
		subSecond(v, settingName(at("limits", "max_transaction_time")), l.MaxTransactionTime, "every transaction would be cut before its DATA", at("limits", "max_transaction_time")...)
		subSecond(v, settingName(at("limits", "max_data_time")), l.MaxDataTime, "every message would be cut before its end", at("limits", "max_data_time")...)
		if l.MinDataRate > 0 && l.MinDataRate < MinDataRateFloor {
			hint := fmt.Sprintf("%dKiB", l.MinDataRate)
			if l.MinDataRate >= 1024 {
				hint = "500"
			}
			v.addSized(fmt.Sprintf("%s %d bytes per second is below %d: a rate without a unit is bytes per second (write e.g. %s); a client could hold a session for days with a trickle",
				settingName(at("limits", "min_data_rate")), l.MinDataRate, MinDataRateFloor, hint),
				fmt.Sprintf("%s "+unitValue+" (%d bytes per second) is below %d bytes per second, the least it may be; a client could hold a session for days with a trickle",
					settingName(at("limits", "min_data_rate")), l.MinDataRate, MinDataRateFloor), at("limits", "min_data_rate")...)
		}
		if l.MaxLineLength > 0 && l.MaxLineLength < 1000 {
			v.add(settingName(at("limits", "max_line_length"))+" must be at least 1000 (RFC 5321 allows 1000-octet lines)", at("limits", "max_line_length")...)
		}
		if l.MaxLineLength > MaxLineLengthBound {
			// Each session holds a line whole until it ends or passes the
			// bound: past 1 MiB the bound is no protection.
			v.add(fmt.Sprintf("%s must be at most %d (a line is held in memory whole before it is judged)", settingName(at("limits", "max_line_length")), MaxLineLengthBound),
				at("limits", "max_line_length")...)
		}
		if rc.BareNewlines != BareNewlinesReject && rc.BareNewlines != BareNewlinesNormalize {
			v.add(fmt.Sprintf("bare_newlines %q: want %s or %s", rc.BareNewlines, BareNewlinesReject, BareNewlinesNormalize), at("bare_newlines")...)
		}
		validateMsgAuth(v, rc.MessageAuthentication, at)
		if m := rc.MessageAuthentication; m.Enabled() && c.DKIM.ARC.Enabled() && m.AuthservID != "" && c.DKIM.ARC.AuthServID != "" && !strings.EqualFold(strings.TrimSuffix(m.AuthservID, "."), strings.TrimSuffix(c.DKIM.ARC.AuthServID, ".")) {
			// The sealer seals only the verdict written under its own
			// authserv-id: a connector writing another would never be sealed.
			v.add(fmt.Sprintf("message_authentication.authserv_id %q differs from dkim.arc.authserv_id %q: ARC sealing would ignore this connector's verdicts", m.AuthservID, c.DKIM.ARC.AuthServID), at("message_authentication", "authserv_id")...)
		}
		if rc.MaxAcknowledgementDelay < 0 {
			v.add(settingName(at("max_acknowledgement_delay"))+" must not be negative", at("max_acknowledgement_delay")...)
		} else if d := time.Duration(rc.MaxAcknowledgementDelay); d > MaxAcknowledgementDelayLimit {
			// Past this the sender has given up on its reply (RFC 5321
			// 4.5.3.2.6: 10 minutes for the reply to the data) and sends
			// the message again: the delay would make a duplicate of
			// every message whose next hop is slow.
			v.add(fmt.Sprintf("max_acknowledgement_delay %s leaves a sender too little of the 10 minutes it waits for the reply "+
				"to its data (RFC 5321 4.5.3.2.6), after which it sends the message again: at most %s", d, MaxAcknowledgementDelayLimit),
				at("max_acknowledgement_delay")...)
		}
		validateMilters(v, i, rc)
		switch rc.ShadowOnReceipt {
		case ShadowOnReceiptOff, ShadowOnReceiptPreferRemote, ShadowOnReceiptRemoteOnly, ShadowOnReceiptLocalOnly:
		default:
			v.add(fmt.Sprintf("shadow_on_receipt %q: want %s, %s, %s or %s", rc.ShadowOnReceipt, ShadowOnReceiptOff,
				ShadowOnReceiptPreferRemote, ShadowOnReceiptRemoteOnly, ShadowOnReceiptLocalOnly), at("shadow_on_receipt")...)
		}
	}

	for i, sc := range c.SendConnectors {
		at := func(p ...any) []any { return append([]any{"send_connectors", i}, p...) }
		if sc.Name == "" {
			v.add("send connector needs a name", at()...)
		} else if names["s:"+sc.Name] {
			v.add(fmt.Sprintf("send connector %q is defined twice", sc.Name), at("name")...)
		}
		names["s:"+sc.Name] = true
		if msg := protocolTextProblem(sc.Name); msg != "" && sc.Name != "" {
			v.add(fmt.Sprintf("send connector name %q %s: write printable ASCII", sc.Name, msg), at("name")...)
		} else if msg := ReservedConnectorName(sc.Name); msg != "" {
			v.add(fmt.Sprintf("send connector name %q %s", sc.Name, msg), at("name")...)
		}
		if msg := protocolTextProblem(sc.Auth.Username); msg != "" && sc.Auth.Username != "" {
			// AUTH PLAIN's response separates its fields by NULs.
			v.add(fmt.Sprintf("send connector %q: auth.username %q %s: write printable ASCII", sc.Name, sc.Auth.Username, msg), at("auth", "username")...)
		}
		// Under a topology the topology's connectors route, with their
		// address spaces: one here only refines the one of its name
		// (rt17f-F2), and config check warns of address spaces it writes.
		if len(sc.AddressSpaces) == 0 && c.Topology == "" {
			v.add(fmt.Sprintf("send connector %q needs at least one address space", sc.Name), at()...)
		}
		for j, as := range sc.AddressSpaces {
			if _, err := mailaddr.Domain(as.Domain); err != nil {
				v.add(fmt.Sprintf("address space %q: %v", as.Domain, err), at("address_spaces", j, "domain")...)
			} else if !IsAddressSpace(mailaddr.DomainKey(as.Domain)) {
				v.add(fmt.Sprintf("address space %q is not a domain, *.domain or *", as.Domain), at("address_spaces", j, "domain")...)
			}
			if as.Cost < 0 || as.Cost > MaxAddressSpaceCost {
				v.add(costRefused(fmt.Sprintf("send_connectors[%d].address_spaces[%d].cost", i, j), strconv.Itoa(as.Cost)), at("address_spaces", j, "cost")...)
			}
		}
		for j, h := range sc.SmartHosts {
			if err := CheckHostPort(h); err != nil {
				v.add(fmt.Sprintf("smart host %q: %v", h, err), at("smart_hosts", j)...)
			}
		}
		connectorDuplicates(v, c.doc, sc.Name, sc.AddressSpaces, sc.SmartHosts, sc.Port, at)
		if sc.Port < 1 || sc.Port > 65535 {
			v.add(settingName(at("port"))+" must be between 1 and 65535", at("port")...)
		}
		if msg := checkSourceAddress(sc.SourceAddress); msg != "" {
			v.add("source_address "+msg, at("source_address")...)
		}
		switch sc.TLS {
		case TLSNone, TLSOpportunistic, TLSRequired, TLSVerify:
		default:
			v.add(fmt.Sprintf("tls must be none, opportunistic, required or verify, not %q", sc.TLS), at("tls")...)
		}
		if (sc.Auth.Username == "") != (sc.Auth.PasswordFile == "") {
			v.add("auth needs both username and password_file", at("auth")...)
		}
		if sc.Auth.Username != "" && sc.TLS != TLSRequired && sc.TLS != TLSVerify {
			v.compare("auth to a smart host needs tls: required or verify", [][]any{at("tls")}, at("auth")...)
		}
		if sc.MaxMessageSize < 0 {
			v.add(settingName(at("max_message_size"))+" must be positive", at("max_message_size")...)
		}
		if sc.MaxConnections < 0 {
			v.add(settingName(at("max_connections"))+" must be positive", at("max_connections")...)
		}
		messageSizeTooSmall(v, settingName(at("max_message_size")), sc.MaxMessageSize, at("max_message_size")...)
		intIn(v, sc.MXAddressLimit, at("mx_address_limit")...)
		intIn(v, sc.MXSessionLimit, at("mx_session_limit")...)
	}

	validateConsole(v, c)
	validateListeners(v, c)
	validateBackPressure(v, c.BackPressure)
	if c.Pickup.Directory != "" {
		messageSizeTooSmall(v, "pickup.max_message_size", c.Pickup.MaxMessageSize, "pickup", "max_message_size")
	}
	validateOutboundTLS(v, c)
	validateQuarantine(v, c.Transport.Quarantine)
	validateSpool(v, c.Transport)
	validateDNS(v, c.DNS)
	validateDKIM(v, c.DKIM)
	validateBounds(v, c)

	if c.Tracking.MaxSize <= 0 {
		v.add("tracking.max_size must be positive", "tracking", "max_size")
	}
	unitFloor(v, "tracking.max_size", int64(c.Tracking.MaxSize), MinTrackingMaxSize, "4KiB", "MiB", "100MiB",
		"the log would rotate every few lines and its history (the audit lines too) go past max_files", "tracking", "max_size")
	intIn(v, c.Tracking.MaxFiles, "tracking", "max_files")

	if c.Transport.MaxDumpsterSizePerDatabase < 0 || c.Transport.MaxDumpsterTime < 0 {
		v.add("dumpster limits must not be negative", "transport")
	}
	unitFloor(v, "transport.max_dumpster_size_per_database", int64(c.Transport.MaxDumpsterSizePerDatabase), MinDumpsterSize, "1MiB", "MiB", "18MiB",
		"the dumpster would keep no copy to redeliver after a mailbox failover (0 turns it off)", "transport", "max_dumpster_size_per_database")
	m := c.Mailbox
	if !validDatabaseName(m.Database) {
		v.add(fmt.Sprintf("mailbox.database %q: use letters, digits and ._- (at most 64)", m.Database), "mailbox", "database")
	}
	if m.Maildir != "" && m.LMTP != "" {
		v.compare("mailbox: set maildir or lmtp, not both", [][]any{{"mailbox", "maildir"}, {"mailbox", "lmtp"}}, "mailbox")
	}
	// With a topology, a domain its recipient map covers needs no store
	// here: CheckLocalStore decides, knowing the topology.
	if authoritative && m.Maildir == "" && m.LMTP == "" && c.Topology == "" {
		v.compare("authoritative domains need mailbox.maildir or mailbox.lmtp", [][]any{{"mailbox", "maildir"}, {"mailbox", "lmtp"}}, "accepted_domains")
	}
	if m.LMTP != "" && !strings.HasPrefix(m.LMTP, "unix:") {
		if err := checkDialAddress(m.LMTP); err != nil {
			v.add(fmt.Sprintf("mailbox.lmtp %q: %v (use host:port or unix:/path)", m.LMTP, err), "mailbox", "lmtp")
		}
	}
	return v.out
}

// validMailbox accepts local-part@domain with a dot-atom local part (no
// quoting, no spaces) and a domain name.
func validMailbox(s string) bool {
	local, dom, ok := strings.Cut(s, "@")
	// A domain name may be written with its final dot; an address's
	// domain may not (RFC 5321 4.1.2: no empty label on the wire).
	if !ok || local == "" || len(local) > 64 || !IsDomain(dom) || strings.HasSuffix(dom, ".") {
		return false
	}
	for _, r := range local {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>[]\\,;:@\"", r) {
			return false
		}
	}
	return !strings.HasPrefix(local, ".") && !strings.HasSuffix(local, ".") && !strings.Contains(local, "..")
}

func checkRights(v *validator, rights []string, path []any) {
	for j, r := range rights {
		switch r {
		case RightSubmit, RightRelay, RightAcceptXShadow:
		default:
			v.add(fmt.Sprintf("unknown right %q (submit, relay, accept-xshadow)", r), append(path, j)...)
		}
	}
}

// MaxAcknowledgementDelayLimit is the longest max_acknowledgement_delay:
// half of the 10 minutes a sender waits for the reply to its data (RFC
// 5321 4.5.3.2.6) before it gives up and sends the message again.
const MaxAcknowledgementDelayLimit = 5 * time.Minute

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	// Digits only: Atoi takes a sign, and "-0" or "+0" would pass the
	// dial check below as a port other than 0.
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("bad port %q: a port is a number from 0 to 65535", port)
	}
	if msg := leadingZeroText(port, false); msg != "" {
		return fmt.Errorf("port %s", msg)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !IsHost(host) { // 127.000.000.017 is neither
			return fmt.Errorf("bad host %q%s", host, hostHint(host))
		}
	}
	return nil
}

// checkDialAddress is checkHostPort for an address umbra connects to (a
// topology server's, mailbox.lmtp, a milter's inet:): it needs a host, an IPv6 address
// without a zone (a listener may bind a link-local address with its
// zone; a destination is not one machine's interface), a port other
// than 0, which only a listener takes (any port), and a host other than
// the unspecified address (errUnspecifiedHost).
func checkDialAddress(s string) error {
	// A port of digits past 65535: the range of a port to connect to,
	// as for port 0 below — checkHostPort's words offer 0, a
	// listener's port, which no address connected to takes.
	if _, port, err := net.SplitHostPort(s); err == nil && port != "" && strings.Trim(port, "0123456789") == "" {
		if n, err := strconv.Atoi(port); err != nil || n > 65535 {
			return fmt.Errorf("bad port %q: a port to connect to is 1 to 65535", port)
		}
	}
	if err := checkHostPort(s); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(s)
	if host == "" {
		return fmt.Errorf("no host (a listener's form): name the host to connect to")
	}
	if err := mailaddr.NoZone(host); err != nil {
		return err // an interface of one machine: as a smart host's (mailaddr.SplitHostPort)
	}
	if port == "0" || strings.TrimLeft(port, "0") == "" {
		return fmt.Errorf("bad port %q: a port to connect to is 1 to 65535", port)
	}
	if err := portLeadingZero(port); err != nil { // 007 too: as a smart host's (CheckHostPort)
		return err
	}
	if UnspecifiedHost(host) { // a listener's form: connecting to it reaches this machine itself
		return errUnspecifiedHost
	}
	return nil
}

// errUnspecifiedHost is checkDialAddress's refusal of the unspecified
// address (0.0.0.0, ::, ::ffff:0.0.0.0), in CheckHostPort's words: one
// rule for every address umbra connects to (a smart host, a redirect,
// mailbox.lmtp, a milter's inet:, a topology server's address, which
// topologyRules words as its own).
var errUnspecifiedHost = errors.New("the host " + UnspecifiedWords)

// IsDomain reports whether s is a syntactically valid DNS name
// (mailaddr.IsDomain).
func IsDomain(s string) bool { return mailaddr.IsDomain(s) }

// IsHost reports whether s is something umbra can connect to: an IP
// address (without brackets) or a host name — a domain whose last label
// is not a number (RFC 3696 section 2: no top-level domain is), so
// that "999.1.1.1" or "1.2.3", typed as an address, is refused before
// any lookup is made of it. A number is decimal digits or, as the C
// resolver's inet_aton reads them, 0x and hex digits: "0x7f000013",
// "127.0.0.0x13", "127.1", "0177.0.0.1", "2130706451" and "127.0.0.1."
// are IPv4 addresses to the system's resolver but not to umbra, so
// neither an address nor a name here. One label (localhost) is a host
// name.
func IsHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if !IsDomain(s) {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	return !numericLabel(labels[len(labels)-1])
}

// numericLabel reports whether a label is a number as inet_aton reads
// one: decimal (or octal, with a leading 0) digits, or 0x and hex digits.
func numericLabel(l string) bool {
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		return strings.Trim(l[2:], "0123456789abcdefABCDEF") == ""
	}
	return l != "" && strings.Trim(l, "0123456789") == ""
}

// hostHint says what a refused host is when the system's resolver
// would read it as an IPv4 address (inet_aton: one to four numbers,
// each decimal, 0-led octal or 0x hex, the last filling the remaining
// bytes): "" when it is not one.
func hostHint(s string) string {
	parts := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(parts) > 4 {
		return ""
	}
	var v [4]uint64
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		n, err := strconv.ParseUint(digits, base, 32)
		if err != nil || p == "" {
			return ""
		}
		v[i] = n
	}
	last := len(parts) - 1
	max := uint64(1)<<(8*(4-last)) - 1
	var a uint64
	for i := 0; i < last; i++ {
		if v[i] > 255 {
			return ""
		}
		a |= v[i] << (8 * (3 - i))
	}
	if v[last] > max {
		return ""
	}
	a |= v[last]
	ip := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
	if ip.IsUnspecified() {
		// "write 0.0.0.0" would lead to a second refusal: the target is
		// unusable in every spelling, so say that once.
		return " (the system resolver reads it as the IPv4 address 0.0.0.0, which " + UnspecifiedWords + ")"
	}
	return fmt.Sprintf(" (the system resolver reads it as the IPv4 address %s: write that)", ip)
}

// IsAddressSpace reports whether s is "*", "*.domain" or a domain.
func IsAddressSpace(s string) bool {
	return s == "*" || IsDomain(strings.TrimPrefix(s, "*."))
}

// validDatabaseName keeps database names usable in queue names, metric
// labels and command lines.
func validDatabaseName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// validateRecipientValidation checks a domain's recipient_validation. A
// domain validated by directory needs a directory: without one every
// address would be refused, so the configuration says so at start
// (recipient_validation: off is the explicit way to accept every local
// part).
func validateRecipientValidation(v *validator, c *Config, i int, d AcceptedDomain) {
	switch d.RecipientValidation {
	case ValidationDirectory:
		r := c.Recipients
		if r.File == "" && len(r.Addresses) == 0 && c.Topology == "" && !c.LDAP.Enabled() {
			v.compare(fmt.Sprintf("accepted domain %q is validated by directory but no directory is configured "+
				"(recipients.file, recipients.addresses, a topology or ldap); set recipient_validation: off to accept every local part",
				d.Domain), [][]any{{"recipients", "file"}, {"recipients", "addresses"}, {"recipients"}, {"topology"}, {"ldap"}},
				"accepted_domains", i, "domain")
		}
	case ValidationCallout:
		if d.Type == DomainAuthoritative && c.Topology == "" {
			v.add(fmt.Sprintf("accepted domain %q is delivered here: a callout has no next hop to ask without a topology "+
				"(use recipient_validation: directory)", d.Domain), "accepted_domains", i, "recipient_validation")
		}
	case ValidationOff:
	case "": // not set, and the domain's type, reported already, gives no default
	default:
		v.add(fmt.Sprintf("recipient_validation must be directory, callout or off, not %q", d.RecipientValidation),
			"accepted_domains", i, "recipient_validation")
	}
}

func validateRecipients(v *validator, r Recipients) {
	for j, a := range r.Addresses {
		if p := RecipientEntryProblem(a); p != "" {
			v.add(fmt.Sprintf("recipients.addresses: %q %s", a, p), "recipients", "addresses", j)
		}
	}
	co := r.Callout
	if co.PositiveTTL < 0 || co.NegativeTTL < 0 || co.Timeout < 0 {
		v.add("recipients.callout: TTLs and timeout must be positive", "recipients", "callout")
	}
	intIn(v, co.MaxConcurrent, "recipients", "callout", "max_concurrent")
	intIn(v, co.MaxEntries, "recipients", "callout", "max_entries")
}

// ValidRecipientEntry reports whether s is "user@domain" or "@domain",
// with the rules package recipients applies (a dot-atom local part of at
// most 64 octets; a host name, an internationalised one in either form),
// so that a bad inline or topology entry is reported here with its line
// rather than at start without one.
func ValidRecipientEntry(s string) bool { return RecipientEntryProblem(s) == "" }

// RecipientEntryProblem is what is wrong with s as a recipient entry,
// as the rest of a sentence naming it ("is not user@domain or
// @domain"); "" when nothing is. An internationalised domain is checked
// as its A-label (mailaddr.Domain, the form the list keys it by), and a
// label IDNA refuses is refused with IDNA's reason (rt17a F2).
func RecipientEntryProblem(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "is not user@domain or @domain"
	}
	if p := domainProblem(domain); p != "" {
		return p
	}
	if local == "" {
		return ""
	}
	if why := mailaddr.LocalDots(local); why != "" {
		return "has a bad local part: " + why
	}
	if !mailaddr.DotAtomLocal(local) {
		return "has a bad local part (a dot-atom of at most 64 octets)"
	}
	return ""
}

// domainProblem says what is wrong with a recipient entry's domain, ""
// when nothing: in either form of an internationalised name, checked as
// the A-label IDNA makes of it, a host name — no final dot, no "_".
// The recipient lists' and the topology's recipient map's one rule.
func domainProblem(domain string) string {
	a, err := mailaddr.Domain(domain)
	if err != nil {
		return "has a bad domain: " + err.Error()
	}
	if !IsDomain(a) || strings.HasSuffix(a, ".") || strings.Contains(a, "_") {
		return fmt.Sprintf("has a bad domain %q (a host name: letters, digits and inner hyphens, labels of 1 to 63 octets)", domain)
	}
	return ""
}

// checkSourceAddress checks an outbound source address: empty, or one
// unicast IP address without port or zone. It returns what is wrong.
func checkSourceAddress(a string) string {
	if a == "" {
		return ""
	}
	ip, err := netip.ParseAddr(a)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not an IP address (no port, no host name)", a)
	case ip.Zone() != "":
		return fmt.Sprintf("%q: no zone", a)
	case ip.Unmap().IsUnspecified() || ip.Unmap().IsMulticast():
		// One rule for every spelling: ::ffff:0.0.0.0 is 0.0.0.0 (rt28e F5).
		return fmt.Sprintf("%q is not a unicast address", a)
	}
	return ""
}

// fileType names what a file that is not a regular file is.
func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// fileViolations refuses every configured file (a key ending in _file,
// the topology, recipients.file, tracking.path) that exists and is not a regular file:
// a FIFO there would hang the start, a reload or config check on its
// read with no word said (rt12), a directory or device is no such file.
// The walk goes over the whole configuration, so a file setting added
// later is covered too.
func fileViolations(c *Config) []violation {
	return walkFiles(c, func(name string) string {
		if fi, err := os.Stat(name); err == nil && !fi.Mode().IsRegular() {
			return fmt.Sprintf(" is not a regular file (%s)", fileType(fi.Mode()))
		}
		if leadsNowhere(name) {
			return linkNowhere
		}
		return ""
	})
}

// linkNowhere ends the message for a path that is a symbolic link
// whose target does not exist or that loops: opening or creating
// through it fails with a reason ("file exists", "no such file") that
// names neither the link nor the setting.
const linkNowhere = " is a symbolic link that leads to nothing (its target is missing, or links loop)"

// leadsNowhere reports whether p is a symbolic link that cannot be
// followed to an existing file.
func leadsNowhere(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return false
	}
	_, err = os.Stat(p)
	return err != nil
}

// UnreadableFiles reports, with file and line, every configured file
// umbra reads (as fileViolations walks them, but for the tracking log it
// writes and the optional hosts file) that cannot be opened for reading:
// config check's first look at the files, before it loads them as serve
// does. Load does not refuse a missing file, since serve creates some
// and reads others only where they are used.
func (c *Config) UnreadableFiles() error {
	if c.doc == nil {
		return nil
	}
	return violations(c.File, c.doc, c.unreadable())
}

// UnreadableFilesUnder is UnreadableFiles of the settings under the
// top-level key (in true) or of all the others (in false): a reload
// takes the console's (applied only by a restart) as a warning.
func (c *Config) UnreadableFilesUnder(key string, in bool) error {
	if c.doc == nil {
		return nil
	}
	var vs []violation
	for _, v := range c.unreadable() {
		if (len(v.path) > 0 && v.path[0] == key) == in {
			vs = append(vs, v)
		}
	}
	return violations(c.File, c.doc, vs)
}

// UnreadableSettings are the settings whose files UnreadableFiles
// reports, as paths for Without: a check that goes on after them leaves
// them out, rather than refuse the same file twice.
func (c *Config) UnreadableSettings() [][]any {
	if c.doc == nil {
		return nil
	}
	var out [][]any
	for _, v := range c.unreadable() {
		out = append(out, v.path)
	}
	return out
}

func (c *Config) unreadable() []violation {
	var vs []violation
	for _, v := range walkFiles(c, func(name string) string {
		fi, err := os.Stat(name)
		if err == nil && !fi.Mode().IsRegular() {
			return "" // Parse refused it; opening a FIFO would block
		}
		f, err := os.Open(name)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return ": " + err.Error()
		}
		f.Close()
		return ""
	}) {
		switch settingName(v.path) {
		case "tracking.path", "dns.hosts_file": // written by umbra; optional ("none")
		default:
			vs = append(vs, v)
		}
	}
	return vs
}

// walkFiles reports what bad says of the file each file setting names
// (nothing when it says ""; else the rest of the message after the
// setting and the name), at that setting.
func walkFiles(c *Config, bad func(name string) string) []violation {
	var out []violation
	var walk func(v reflect.Value, path []any)
	walk = func(v reflect.Value, path []any) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), append(path[:len(path):len(path)], i))
			}
		case reflect.Struct:
			t := v.Type()
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if key == "-" {
					continue
				}
				p := path
				if key != "" {
					p = append(path[:len(path):len(path)], key)
				}
				fv := v.Field(i)
				if fv.Kind() == reflect.String && key != "" && isFileKey(path, key) {
					if name := fv.String(); name != "" {
						if why := bad(name); why != "" {
							out = append(out, violation{path: p, msg: settingName(p) + " " + name + why})
						}
					}
					continue
				}
				walk(fv, p)
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), nil)
	return out
}

// isFileKey: the setting at key (under path) names a file umbra reads.
func isFileKey(path []any, key string) bool {
	switch {
	case strings.HasSuffix(key, "_file"), key == "topology" && len(path) == 0:
		return true
	case key == "file" && len(path) == 1 && path[0] == "recipients",
		key == "path" && len(path) == 1 && path[0] == "tracking": // a FIFO would hang umbra track
		return true
	}
	return false
}

// settingName is a setting's path as the configuration writes it:
// receive_connectors[0].auth.credentials_file.
func settingName(path []any) string {
	var b strings.Builder
	for _, e := range path {
		switch e := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, e)
		}
	}
	return b.String()
}

// authOffSettings refuses, each at its line, the settings of a receive
// connector that only mean something when it offers AUTH, written on one
// whose auth.mechanisms is left out, ~ or []: AUTH is off there (EHLO
// offers none), so a credentials file or an LDAP login no client can
// use, an allow_insecure, rights for authenticated sessions no session
// can have and a bound on failed logins none can make would do nothing,
// silently. An operator who wrote
// them meant AUTH; the mechanisms are not guessed for them (PLAIN and
// LOGIN in clear text are a choice to make, allow_insecure shows).
func authOffSettings(v *validator, c *Config, rc ReceiveConnector, at func(...any) []any) {
	for _, s := range []struct {
		set  bool
		path []any
		why  string
	}{
		{rc.Auth.CredentialsFile != "", at("auth", "credentials_file"), "its accounts cannot log in on this connector (for the web console alone, write console.credentials_file)"},
		{rc.Auth.LDAP, at("auth", "ldap"), "no directory account can log in on this connector"},
		{rc.Auth.AllowInsecure, at("auth", "allow_insecure"), "there is no AUTH to offer before STARTTLS"},
		{len(rc.Permissions.Authenticated) > 0, at("permissions", "authenticated"), "no session of this connector is ever authenticated"},
		{c.Written(at("limits", "max_auth_failures")...), at("limits", "max_auth_failures"), "no AUTH can fail on this connector"},
		{c.Written(at("rate_limits", "user")...), at("rate_limits", "user"), "no session of this connector has a user to count"},
	} {
		if s.set {
			v.compare(fmt.Sprintf("%s is set but auth.mechanisms is empty, so this connector offers no AUTH: %s; "+
				"list the mechanisms to offer (auth.mechanisms: [PLAIN, LOGIN]) or remove the key", settingName(s.path), s.why),
				[][]any{at("auth", "mechanisms")}, s.path...)
		}
	}
}

// protocolTextProblem says why configured text written into a protocol
// line (a greeting, a header field) cannot go there, or "" when it can:
// a control character (CR/LF would start a line of its own), DEL or a
// non-ASCII byte, or nothing but whitespace.
func protocolTextProblem(t string) string {
	for i := 0; i < len(t); i++ {
		if b := t[i]; b < 0x20 || b == 0x7f {
			return "holds a control character (it is written into a protocol line, where a CR or LF would start a line of its own, a NUL end a field)"
		} else if b >= 0x80 {
			return "holds a non-ASCII byte (it is written into a protocol line)"
		}
	}
	if strings.TrimSpace(t) == "" {
		return "is only whitespace"
	}
	return ""
}
