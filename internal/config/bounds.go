package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Bounds of the durations and rates a value in a slipped unit (1s for
// 1d, 1ms for 1s, 2GiB for 2KiB) would make unworkable (rt53 R5): each
// is refused at its line by durationFloor or durationCeiling, naming
// the bound and what the value would break. 0 keeps its meaning where
// it has one (off, or the default, which other checks judge); the
// sub-second slips of session and delivery timeouts are subSecond's.
const (
	// MinLifetime: quarantined mail and the tracking history are kept
	// for an operator to look at; an hour is the least that leaves one
	// the time to.
	MinLifetime = time.Hour
	// MinDumpsterTime: a dumpster copy is asked for when a mailbox
	// failover is noticed, minutes after the delivery; below a minute
	// none would be left to ask for.
	MinDumpsterTime = time.Minute
	// MinPeerWait: one DNS query, one directory operation, one
	// message's authentication lookups, one milter step: below it no
	// peer past loopback can answer, and every lookup fails.
	MinPeerWait = 100 * time.Millisecond
	// MinPollInterval: a loop waking more often spins on the CPU.
	MinPollInterval = 100 * time.Millisecond
	// MinCacheTTL: a callout answer kept less than a minute asks the
	// next hop again at every RCPT of a burst; an MTA-STS
	// refresh or a console session shorter than a minute is no setting
	// anyone means.
	MinCacheTTL = time.Minute
	// MaxReplyDelay: a delay umbra adds before a reply (error_delay,
	// back_pressure.slow_delay) longer than a minute holds a session
	// slot per client for minutes and brings the client to its own
	// timeout (RFC 5321 4.5.3.2: 5 minutes) after a few replies.
	MaxReplyDelay = time.Minute
	// MaxDataRateFloor: min_data_rate above 1MiB/s is no floor against a
	// trickle but a demand for a fast link: a client on an ordinary line
	// could not keep to it, and every large message would be cut.
	MaxDataRateFloor = 1 << 20
)

// durationFloor refuses a duration above 0 and below floor at path.
func durationFloor(v *validator, label string, d Duration, floor time.Duration, why string, path ...any) {
	if d > 0 && d.D() < floor {
		v.add(fmt.Sprintf("%s %s is below %s: %s", label, d.D(), boundText(floor), why), path...)
	}
}

// durationCeiling refuses a duration above ceiling at path.
func durationCeiling(v *validator, label string, d Duration, ceiling time.Duration, why string, path ...any) {
	if d.D() > ceiling {
		v.add(fmt.Sprintf("%s %s is above %s: %s", label, d.D(), boundText(ceiling), why), path...)
	}
}

// boundText writes a bound as an operator would: 1h, 1m, 1s, 100ms.
func boundText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// validateBounds applies the bounds above to every setting they govern.
func validateBounds(v *validator, c *Config) {
	t := c.Transport
	floor := func(d Duration, min time.Duration, why string, path ...any) {
		durationFloor(v, settingName(path), d, min, why, path...)
	}
	floor(t.Quarantine.Expiration, MinLifetime, "quarantined mail would expire before an operator could look at it", "transport", "quarantine", "expiration")
	floor(c.Tracking.MaxAge, MinLifetime, "the tracking history (the audit lines too) would be deleted before anyone could read it", "tracking", "max_age")
	floor(t.MaxDumpsterTime, MinDumpsterTime, "the dumpster would keep no copy to redeliver after a mailbox failover", "transport", "max_dumpster_time")
	floor(t.DelayNotification, time.Second, "every sender would be told of a delay at once (0 turns the notice off; ms is milliseconds)", "transport", "delay_notification")
	floor(c.Console.SessionIdle, MinCacheTTL, "every console session would end while the operator reads the page", "console", "session_idle")
	floor(c.OutboundTLS.MTASTSRefreshInterval, MinCacheTTL, "every policy would be fetched again at once, over and over", "outbound_tls", "mta_sts_refresh_interval")
	floor(c.OutboundTLS.MTASTSFetchTimeout, time.Second, "no policy could be fetched over HTTPS in time, and every policy domain would be treated as unreachable", "outbound_tls", "mta_sts_fetch_timeout")
	co := c.Recipients.Callout
	floor(co.PositiveTTL, MinCacheTTL, "the next hop would be asked again at every RCPT", "recipients", "callout", "positive_ttl")
	floor(co.NegativeTTL, MinCacheTTL, "the next hop would be asked again at every RCPT", "recipients", "callout", "negative_ttl")
	floor(co.Timeout, time.Second, "no next hop could answer a callout session (connect, EHLO, MAIL, RCPT) in time", "recipients", "callout", "timeout")
	floor(c.AuthThrottle.Lockout, time.Second, "a locked-out guesser would be let in again at once", "auth_throttle", "lockout")
	floor(c.AuthThrottle.Window, time.Second, "failures would be forgotten at once, and no guesser would ever be locked out", "auth_throttle", "window")
	floor(c.DNS.Timeout, MinPeerWait, "no resolver could answer, and every lookup would fail", "dns", "timeout")
	floor(c.LDAP.Timeout, MinPeerWait, "no directory could answer, and every lookup would fail", "ldap", "timeout")
	floor(t.DeadDestinationCoolDown, time.Second, "a dead destination would be tried again at once, over and over (ms is milliseconds: write e.g. 5m)", "transport", "dead_destination_cool_down")
	floor(c.BackPressure.CheckInterval, MinPollInterval, "the resource check would spin on the CPU", "back_pressure", "check_interval")
	if c.Pickup.Directory != "" {
		floor(c.Pickup.Interval, MinPollInterval, "the pickup scan would spin on the CPU", "pickup", "interval")
	}
	durationCeiling(v, "back_pressure.slow_delay", c.BackPressure.SlowDelay, MaxReplyDelay,
		"every slowed client would hold a session for minutes and reach its own reply timeout", "back_pressure", "slow_delay")
	for i, rc := range c.ReceiveConnectors {
		at := func(p ...any) []any { return append([]any{"receive_connectors", i}, p...) }
		l := rc.Limits
		durationCeiling(v, settingName(at("limits", "error_delay")), l.ErrorDelay, MaxReplyDelay,
			"every client past soft_error_limit would hold a session for minutes and reach its own reply timeout", at("limits", "error_delay")...)
		if l.MinDataRate > MaxDataRateFloor {
			v.add(fmt.Sprintf("%s %d bytes per second is above 1MiB: no client on an ordinary link could keep to it, and every large message would be cut after idle_timeout (write e.g. 500 or 10KiB)",
				settingName(at("limits", "min_data_rate")), l.MinDataRate), at("limits", "min_data_rate")...)
		}
		if rc.MessageAuthentication.Enabled() {
			floor(rc.MessageAuthentication.Timeout, MinPeerWait, "no DNS answer could come in time, and every check would fail", at("message_authentication", "timeout")...)
		}
		for j, m := range rc.Milters {
			for _, d := range []struct {
				key string
				d   Duration
			}{{"connect_timeout", m.ConnectTimeout}, {"command_timeout", m.CommandTimeout}, {"data_timeout", m.DataTimeout}, {"eom_timeout", m.EOMTimeout}} {
				floor(d.d, MinPeerWait, "no milter could answer in time, and every message would meet on_failure", at("milters", j, d.key)...)
			}
		}
		r := rc.RateLimits
		for _, s := range []struct {
			key string
			l   RateLimit
		}{{"address", r.Address}, {"network", r.Network}, {"user", r.User}, {"sender_domain", r.SenderDomain}} {
			floor(s.l.Window, time.Second, "the counts would be forgotten at once, and the limit would never be reached", at("rate_limits", s.key, "window")...)
		}
	}
}

// intBound is the range of whole numbers an integer setting takes, and
// what 0 or no value means where that is not in the range.
type intBound struct {
	min, max int64
	zero     string // "" when 0 is in the range or refused like any other
}

// text says the range as a refusal names it.
func (b intBound) text() string {
	s := fmt.Sprintf("a whole number from %d to %d", b.min, b.max)
	if b.zero != "" {
		s += "; 0 or absent: " + b.zero
	}
	return s
}

// intBounds is the one place that knows the range of each integer
// setting that has one of its own, by its path with every list index
// written [] (a suffix of the setting's path: the topology's settings
// are the same inline and in their own file). A value past what its Go
// type holds names this range (kinds.go), not the type's (ops48 F4:
// "site_links[0].cost: 99999999999999999999" was said to want a whole
// number from -9223372036854775808 to 9223372036854775807); the
// validators refuse a value outside it by the same bounds.
var intBounds = map[string]intBound{
	"site_links[].cost":                 {1, MaxTopoLinkCost, ""},
	"site_links[].umbra_cost":           {1, MaxTopoLinkCost, ""},
	"servers[].version":                 {1, MaxTopoVersion, ""},
	"routing_group_connectors[].cost":   {1, MaxTopoRGCCost, ""},
	"address_spaces[].cost":             {1, MaxAddressSpaceCost, ""},
	"limits.max_recipients":             {1, math.MaxInt64, "the default"},
	"limits.max_connections":            {1, math.MaxInt64, "the default"},
	"limits.max_connections_per_source": {1, math.MaxInt64, "the default"},
	"limits.max_line_length":            {1, math.MaxInt64, "the default"},
	"limits.max_auth_failures":          {1, math.MaxInt64, "the default"},
	"limits.max_junk_commands":          {1, math.MaxInt64, "the default"},
	"limits.max_errors":                 {1, math.MaxInt64, "the default"},
	"limits.soft_error_limit":           {1, math.MaxInt64, "the default"},
	// The transport's and the tracking log's counts (life49): each
	// refused outside its range by intIn, naming it. tracking.max_files
	// is checked name by name at every start (writepaths.go), and a
	// billion of them hung it.
	"transport.max_active":                      {1, 1_000_000, "the default"},
	"transport.poison_threshold":                {1, 1000, "the default"},
	"transport.initial_destination_concurrency": {1, 100_000, "the default"},
	"transport.max_hop_count":                   {1, 10_000, "the default"},
	"transport.shadow_heartbeat_retry_count":    {1, 1_000_000, "the default"},
	"transport.max_retries_remote_site_shadow":  {1, 10_000, "the default"},
	"transport.max_retries_local_site_shadow":   {1, 10_000, "the default"},
	"tracking.max_files":                        {1, MaxTrackingFiles, "the default"},
	"dns.attempts":                              {1, 10, "the default"},
	"dns.cache_size":                            {1, 10_000_000, "the default"},
	"transport.quarantine.max_messages":         {0, 100_000_000, "no bound"},
	"send_connectors[].mx_address_limit":        {0, 1000, "no bound"},
	"send_connectors[].mx_session_limit":        {0, 1000, "no bound"},
	"send_connectors[].port":                    {1, 65535, ""},
	"rate_limits.ipv4_prefix":                   {8, 32, "the default"},
	"rate_limits.ipv6_prefix":                   {16, 128, "the default"},
	// rdlife49: counts life49 left checked for sign alone — a cache
	// past memory, a billion DKIM signatures verified per message.
	"ldap.cache_size":                       {1, 10_000_000, "the default"},
	"message_authentication.max_signatures": {1, 100, "the default"},
	"auth_throttle.lockout_after":           {1, 1_000_000, "the default"},
	"recipients.callout.max_concurrent":     {1, 10_000, "the default"},
	"recipients.callout.max_entries":        {1, 100_000_000, "the default"},
	"back_pressure.submission_queue.normal": {0, 1_000_000_000, ""},
	"back_pressure.submission_queue.medium": {0, 1_000_000_000, ""},
	"back_pressure.submission_queue.high":   {0, 1_000_000_000, ""},
	"back_pressure.total_queue.normal":      {0, 1_000_000_000, ""},
	"back_pressure.total_queue.medium":      {0, 1_000_000_000, ""},
	"back_pressure.total_queue.high":        {0, 1_000_000_000, ""},
	"back_pressure.sessions.normal":         {0, 1_000_000_000, ""},
	"back_pressure.sessions.medium":         {0, 1_000_000_000, ""},
	"back_pressure.sessions.high":           {0, 1_000_000_000, ""},
	"rate_limits.address.connections":       {0, 1_000_000_000, "no limit"},
	"rate_limits.address.messages":          {0, 1_000_000_000, "no limit"},
	"rate_limits.address.recipients":        {0, 1_000_000_000, "no limit"},
	"rate_limits.network.connections":       {0, 1_000_000_000, "no limit"},
	"rate_limits.network.messages":          {0, 1_000_000_000, "no limit"},
	"rate_limits.network.recipients":        {0, 1_000_000_000, "no limit"},
	"rate_limits.user.connections":          {0, 1_000_000_000, "no limit"},
	"rate_limits.user.messages":             {0, 1_000_000_000, "no limit"},
	"rate_limits.user.recipients":           {0, 1_000_000_000, "no limit"},
	"rate_limits.sender_domain.connections": {0, 1_000_000_000, "no limit"},
	"rate_limits.sender_domain.messages":    {0, 1_000_000_000, "no limit"},
	"rate_limits.sender_domain.recipients":  {0, 1_000_000_000, "no limit"},
}

// MaxTrackingFiles bounds tracking.max_files: every start checks each
// rotation name up to it (writepaths.go), and a search reads them all.
const MaxTrackingFiles = 1000

// intIn refuses, at path, an integer setting outside the range
// intBounds gives it, naming the setting and that range. 0 is the
// default's (set before validation) where the range says so.
func intIn(v *validator, val int, path ...any) {
	b, ok := boundOf(path)
	if !ok {
		panic(fmt.Sprintf("config: no range for %s in intBounds", settingName(path)))
	}
	if int64(val) < b.min || int64(val) > b.max {
		v.add(fmt.Sprintf("%s %d is outside its range: %s", settingName(path), val, b.text()), path...)
	}
}

// boundOf is the range intBounds gives the setting at path, if any.
func boundOf(path []any) (intBound, bool) {
	var b strings.Builder
	for _, e := range path {
		switch e := e.(type) {
		case int:
			b.WriteString("[]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, e)
		}
	}
	p := b.String()
	for k, bound := range intBounds {
		if p == k || strings.HasSuffix(p, "."+k) {
			return bound, true
		}
	}
	return intBound{}, false
}
