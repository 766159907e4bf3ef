package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"umbra/internal/config"
)

// A reload that changes only retry_schedule, or the first authoritative
// domain, moves a setting the file does not write
// (dead_destination_cool_down, server.postmaster: derived from those).
// The warning says that it is derived, from what, and its value before
// and after, not as if the operator had written it (rt58 F6); one the
// file sets keeps its plain name.
func TestRestartOnlyNamesDerivedSettings(t *testing.T) {
	parse := func(extra, schedule, domain string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(fmt.Sprintf(`server: {name: mx.example.test}
transport: {retry_schedule: [%s]%s}
accepted_domains: [{domain: %s, type: authoritative, recipient_validation: off}]
mailbox: {maildir: /tmp/md}
receive_connectors: [{name: x, bindings: ["127.0.0.1:0"]}]
`, schedule, extra, domain)), "umbra.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	got := restartOnly(parse("", "10s, 30s, 1m", "a.example"), parse("", "5s, 30s", "a.example"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "transport.dead_destination_cool_down") ||
		!strings.Contains(got[0], "derived from retry_schedule") || !strings.Contains(got[0], "10s -> 5s") {
		t.Errorf("retry_schedule changed: %q", got)
	}
	got = restartOnly(parse(", dead_destination_cool_down: 1m", "10s", "a.example"), parse(", dead_destination_cool_down: 1m", "5s", "a.example"))
	if len(got) != 0 {
		t.Errorf("retry_schedule changed, cool down set: %q", got)
	}
	got = restartOnly(parse(", dead_destination_cool_down: 1m", "10s", "a.example"), parse(", dead_destination_cool_down: 2m", "10s", "a.example"))
	if !slices.Equal(got, []string{"transport.dead_destination_cool_down"}) {
		t.Errorf("cool down changed: %q", got)
	}
	got = restartOnly(parse("", "10s", "a.example"), parse("", "10s", "b.example"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "server.postmaster") || !strings.Contains(got[0], "derived from the first authoritative domain") ||
		!strings.Contains(got[0], "postmaster@a.example -> postmaster@b.example") {
		t.Errorf("first authoritative domain changed: %q", got)
	}
}

// rt24c F11: the derived transport.body_memory_limit is named with its
// value before and after, as the other derived keys are: a reload that
// moves max_connections says how large the change waiting for a restart
// is; one the file comes to set says it was derived.
func TestRestartOnlyGivesDerivedBodyMemoryLimitValues(t *testing.T) {
	parse := func(conns int, limit string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(fmt.Sprintf(`server: {name: mx.example.test}
transport: {retry_schedule: [10s]%s}
accepted_domains: [{domain: a.example, type: authoritative, recipient_validation: off}]
mailbox: {maildir: /tmp/md}
receive_connectors: [{name: x, bindings: ["127.0.0.1:0"], limits: {max_connections: %d, max_message_size: 10MiB}}]
`, limit, conns)), "umbra.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	got := restartOnly(parse(2, ""), parse(7, ""))
	if len(got) != 1 || got[0] != "transport.body_memory_limit (not set: derived from the receive connectors' max_message_size and max_connections, 512.0KiB -> 1.8MiB)" {
		t.Errorf("max_connections 2 -> 7: %q", got)
	}
	got = restartOnly(parse(2, ""), parse(2, ", body_memory_limit: 4MiB"))
	if len(got) != 1 || got[0] != "transport.body_memory_limit (set now, was derived from the receive connectors' max_message_size and max_connections, 512.0KiB -> 4.0MiB)" {
		t.Errorf("set now: %q", got)
	}
	got = restartOnly(parse(2, ", body_memory_limit: 4MiB"), parse(2, ", body_memory_limit: 8MiB"))
	if !slices.Equal(got, []string{"transport.body_memory_limit"}) {
		t.Errorf("set in both: %q", got)
	}
}

// OPS (rt36 F2): the reload's note on a derived server.postmaster names
// the rule that derived the new value. An edge with internal_relay
// domains only derives it from the first of them (no authoritative
// domain, and server.name's domain is none of the organisation's); a
// domain put first moves it, and the note said "derived from the first
// authoritative domain", a domain this server does not have. Where
// server.name's domain is inside, it is the one named.
func TestRestartOnlyNamesThePostmasterRuleUsed(t *testing.T) {
	parse := func(name string, domains ...string) *config.Config {
		t.Helper()
		var ds []string
		for _, d := range domains {
			ds = append(ds, fmt.Sprintf("{domain: %s, type: internal_relay}", d))
		}
		c, err := config.Parse([]byte(fmt.Sprintf(`server: {name: %s, role: edge}
transport: {retry_schedule: [10s]}
accepted_domains: [%s]
receive_connectors: [{name: x, bindings: ["127.0.0.1:0"]}]
send_connectors: [{name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: ["127.0.0.1:25"], tls: none}]
`, name, strings.Join(ds, ", "))), "umbra.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	got := restartOnly(parse("edge.outside.example", "ldap.rt.test", "corp.rt.test"), parse("edge.outside.example", "co.rt.test", "ldap.rt.test", "corp.rt.test"))
	if want := "server.postmaster (not set: derived from the first internal_relay domain, postmaster@ldap.rt.test -> postmaster@co.rt.test)"; !slices.Equal(got, []string{want}) {
		t.Errorf("an internal_relay domain put first: %q, want %q", got, want)
	}
	got = restartOnly(parse("edge.rt.test", "ldap.rt.test"), parse("edge.rt.test", "rt.test", "ldap.rt.test"))
	if want := "server.postmaster (not set: derived from the domain of server.name, postmaster@ldap.rt.test -> postmaster@rt.test)"; !slices.Equal(got, []string{want}) {
		t.Errorf("server.name's domain made inside: %q, want %q", got, want)
	}
}

// OPS-1: after a first reload the running configuration holds
// the running server section (keepRunning) beside the reloaded accepted
// domains, so the rule cur.PostmasterDerivedFrom() names for a file that
// comes to set server.postmaster is derived from domains the running
// value never came from: the note said the running
// postmaster@ldap.rt.test was "derived from the domain of server.name"
// (rt.test), which it is not.
func TestRestartOnlySetNowNamesTheRuleOfTheRunningValue(t *testing.T) {
	parse := func(pm string, domains ...string) *config.Config {
		t.Helper()
		var ds []string
		for _, d := range domains {
			ds = append(ds, fmt.Sprintf("{domain: %s, type: internal_relay}", d))
		}
		set := ""
		if pm != "" {
			set = ", postmaster: " + pm
		}
		c, err := config.Parse([]byte(fmt.Sprintf(`server: {name: edge.rt.test, role: edge%s}
transport: {retry_schedule: [10s]}
accepted_domains: [%s]
receive_connectors: [{name: x, bindings: ["127.0.0.1:0"]}]
send_connectors: [{name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: ["127.0.0.1:25"], tls: none}]
`, set, strings.Join(ds, ", "))), "umbra.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	start := parse("", "ldap.rt.test") // postmaster@ldap.rt.test: the first internal_relay domain
	first := parse("", "rt.test", "ldap.rt.test")
	restartOnly(start, first)
	keepRunning(start, first) // the running configuration now
	if first.Server.Postmaster != "postmaster@ldap.rt.test" {
		t.Fatalf("running postmaster %q", first.Server.Postmaster)
	}
	got := restartOnly(first, parse("pm@rt.test", "rt.test", "ldap.rt.test"))
	for _, line := range got {
		if strings.HasPrefix(line, "server.postmaster") && strings.Contains(line, "domain of server.name") {
			t.Errorf("note %q: the running postmaster@ldap.rt.test was not derived from server.name's domain", line)
		}
	}
}
