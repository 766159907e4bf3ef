package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Milter is one Sendmail milter (protocol v6) a receive connector asks
// at connect, HELO, MAIL, RCPT and end of data, in list order.
type Milter struct {
	// Name names the milter in logs, metrics and the check list.
	Name string `yaml:"name"`
	// Address is "inet:HOST:PORT" or "unix:/absolute/path".
	Address string `yaml:"address"`
	// ConnectTimeout bounds connecting and option negotiation's dial.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// CommandTimeout bounds each envelope event (negotiation, connect,
	// HELO, MAIL, RCPT, DATA, abort) and its reply.
	CommandTimeout Duration `yaml:"command_timeout"`
	// DataTimeout bounds each header, end-of-header and body chunk event.
	DataTimeout Duration `yaml:"data_timeout"`
	// EOMTimeout bounds the end-of-message event: the milter's
	// modifications and its final reply.
	EOMTimeout Duration `yaml:"eom_timeout"`
	// OnFailure is what a session gets when the milter cannot be
	// reached, times out or breaks the protocol: "tempfail" (451 4.7.1
	// for the command, and every later one of the session) or "accept"
	// (the milter is left out for the rest of the session).
	OnFailure string `yaml:"on_failure"`
}

// Values of a milter's on_failure.
const (
	MilterOnFailureTempfail = "tempfail"
	MilterOnFailureAccept   = "accept"
)

// Milter defaults: the connect, command and content timeouts, and the
// action when a milter fails.
var (
	DefaultMilterConnectTimeout = 30 * time.Second
	DefaultMilterCommandTimeout = 30 * time.Second
	DefaultMilterDataTimeout    = 300 * time.Second
	DefaultMilterEOMTimeout     = 300 * time.Second
	DefaultMilterOnFailure      = MilterOnFailureTempfail
)

func milterDefaults(rc *ReceiveConnector) {
	for i := range rc.Milters {
		m := &rc.Milters[i]
		setDur(&m.ConnectTimeout, DefaultMilterConnectTimeout)
		setDur(&m.CommandTimeout, DefaultMilterCommandTimeout)
		setDur(&m.DataTimeout, DefaultMilterDataTimeout)
		setDur(&m.EOMTimeout, DefaultMilterEOMTimeout)
		if m.OnFailure == "" {
			m.OnFailure = DefaultMilterOnFailure
		}
	}
}

// MilterAddress splits a milter address into a network and an address
// for net.Dial.
func MilterAddress(a string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(a, "unix:"):
		p := strings.TrimPrefix(a, "unix:")
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("unix socket path %q is not absolute", p)
		}
		return "unix", p, nil
	case strings.HasPrefix(a, "inet:"):
		hp := strings.TrimPrefix(a, "inet:")
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" || port == "" {
			return "", "", fmt.Errorf("want inet:HOST:PORT, not %q", a)
		}
		if err := checkDialAddress(hp); err != nil { // port 0, a zone: as any address umbra dials
			return "", "", fmt.Errorf("%q: %v", a, err)
		}
		return "tcp", hp, nil
	}
	return "", "", fmt.Errorf("want inet:HOST:PORT or unix:/path, not %q", a)
}

func validateMilters(v *validator, i int, rc ReceiveConnector) {
	names := map[string]bool{}
	for j, m := range rc.Milters {
		at := func(p ...any) []any { return append([]any{"receive_connectors", i, "milters", j}, p...) }
		switch {
		case m.Name == "":
			v.add("milter needs a name", at()...)
		case names[m.Name]:
			v.add(fmt.Sprintf("milter %q is defined twice on connector %q", m.Name, rc.Name), at("name")...)
		}
		names[m.Name] = true
		if _, _, err := MilterAddress(m.Address); err != nil {
			v.add(fmt.Sprintf("milter %q: address: %v", m.Name, err), at("address")...)
		}
		for _, d := range []struct {
			key string
			d   Duration
		}{{"connect_timeout", m.ConnectTimeout}, {"command_timeout", m.CommandTimeout}, {"data_timeout", m.DataTimeout}, {"eom_timeout", m.EOMTimeout}} {
			if d.d <= 0 {
				v.add(fmt.Sprintf("milter %q: %s must be positive", m.Name, d.key), at(d.key)...)
			}
		}
		if m.OnFailure != MilterOnFailureTempfail && m.OnFailure != MilterOnFailureAccept {
			v.add(fmt.Sprintf("milter %q: on_failure %q: want %s or %s", m.Name, m.OnFailure, MilterOnFailureTempfail, MilterOnFailureAccept), at("on_failure")...)
		}
	}
}
