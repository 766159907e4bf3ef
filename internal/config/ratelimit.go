package config

import (
	"fmt"
	"time"
)

// RateLimits are a receive connector's rate limits (package ratelimit):
// per client address, per client network (the address's /24 or /64),
// per authenticated user and per sender domain, each counting
// connections, messages (MAIL commands) and recipients (accepted RCPTs)
// in a sliding window. A limit of 0 is no limit; every limit is off by
// default.
type RateLimits struct {
	// IPv4Prefix and IPv6Prefix are the network of the "network" scope.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Exempt ranges are never limited (the organisation's own networks);
	// transport servers of the organisation never are either.
	Exempt       []string  `yaml:"exempt"`
	Address      RateLimit `yaml:"address"`
	Network      RateLimit `yaml:"network"`
	User         RateLimit `yaml:"user"`
	SenderDomain RateLimit `yaml:"sender_domain"`
}

// RateLimit is one scope's limits per Window.
type RateLimit struct {
	Window      Duration `yaml:"window"`
	Connections int      `yaml:"connections"`
	Messages    int      `yaml:"messages"`
	Recipients  int      `yaml:"recipients"`
}

// Any reports whether a limit is set.
func (r RateLimit) Any() bool { return r.Connections > 0 || r.Messages > 0 || r.Recipients > 0 }

// Any reports whether any scope has a limit.
func (r RateLimits) Any() bool {
	return r.Address.Any() || r.Network.Any() || r.User.Any() || r.SenderDomain.Any()
}

// Defaults of rate_limits.
const (
	DefaultRateWindow     = time.Minute
	DefaultRateIPv4Prefix = 24
	DefaultRateIPv6Prefix = 64
)

func rateLimitDefaults(c *Config) {
	for i := range c.ReceiveConnectors {
		r := &c.ReceiveConnectors[i].RateLimits
		setInt(&r.IPv4Prefix, DefaultRateIPv4Prefix)
		setInt(&r.IPv6Prefix, DefaultRateIPv6Prefix)
		for _, l := range []*RateLimit{&r.Address, &r.Network, &r.User, &r.SenderDomain} {
			setDur(&l.Window, DefaultRateWindow)
		}
	}
}

func validateRateLimits(v *validator, c *Config) {
	for i, rc := range c.ReceiveConnectors {
		r := rc.RateLimits
		at := func(p ...any) []any { return append([]any{"receive_connectors", i, "rate_limits"}, p...) }
		if r.IPv4Prefix < 8 || r.IPv4Prefix > 32 {
			v.add(fmt.Sprintf("rate_limits.ipv4_prefix %d: want 8 to 32", r.IPv4Prefix), at("ipv4_prefix")...)
		}
		if r.IPv6Prefix < 16 || r.IPv6Prefix > 128 {
			v.add(fmt.Sprintf("rate_limits.ipv6_prefix %d: want 16 to 128", r.IPv6Prefix), at("ipv6_prefix")...)
		}
		for j, e := range r.Exempt {
			if _, err := ParseRange(e); err != nil {
				msg := fmt.Sprintf("rate_limits.exempt %q: want an address range (10.0.0.0/8)", e)
				if _, ok := err.(hostBitsError); ok {
					msg = fmt.Sprintf("rate_limits.exempt %q %v", e, err)
				}
				v.add(msg, at("exempt", j)...)
			}
		}
		for _, s := range []struct {
			key string
			l   RateLimit
		}{{"address", r.Address}, {"network", r.Network}, {"user", r.User}, {"sender_domain", r.SenderDomain}} {
			if s.l.Window <= 0 {
				v.add(fmt.Sprintf("rate_limits.%s.window must be positive", s.key), at(s.key, "window")...)
			}
			intIn(v, s.l.Connections, at(s.key, "connections")...)
			intIn(v, s.l.Messages, at(s.key, "messages")...)
			intIn(v, s.l.Recipients, at(s.key, "recipients")...)
			// The user is known after AUTH and the sender domain at MAIL:
			// neither exists when a connection is counted.
			if (s.key == "user" || s.key == "sender_domain") && s.l.Connections != 0 {
				v.add(fmt.Sprintf("rate_limits.%s.connections: connections are counted per address and network only", s.key), at(s.key, "connections")...)
			}
		}
	}
}
