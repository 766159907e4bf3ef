package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"umbra/internal/config"
)

// A restart-only setting is compared with what runs, not with the file
// loaded last (rt25 F7): changed, it is named on every reload until the
// file matches the running value again, and putting the file back is
// no change. A changed server.name does not drag outbound_tls in (its
// TLS-RPT defaults derive from the name).
func TestRestartOnlyComparedWithRunning(t *testing.T) {
	parse := func(name, outbound, initialConc string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(fmt.Sprintf(`server: {name: %s}
transport: {initial_destination_concurrency: %s}
receive_connectors: [{name: x, bindings: ["127.0.0.1:0"]}]
outbound_tls: {mta_sts: %s}
`, name, initialConc, outbound)), "umbra.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	running := parse("mx.example.test", "false", "5")
	reload := func(next *config.Config) []string {
		r := restartOnly(running, next)
		keepRunning(running, next)
		running = next
		return r
	}
	for i, step := range []struct {
		cfg  *config.Config
		want []string
	}{
		{parse("mx.example.test", "true", "5"), []string{"outbound_tls"}},
		{parse("mx.example.test", "true", "5"), []string{"outbound_tls"}}, // still not applied
		{parse("mx.example.test", "false", "5"), nil},                     // the file is what runs again
		{parse("mx.example.test", "false", "9"), []string{"transport.initial_destination_concurrency"}},
		{parse("mx.example.test", "false", "9"), []string{"transport.initial_destination_concurrency"}},
		{parse("mx.example.test", "false", "5"), nil},
		{parse("mx2.example.test", "false", "5"), []string{"server.name"}},
		{parse("mx2.example.test", "false", "5"), []string{"server.name"}},
		{parse("mx.example.test", "false", "5"), nil},
	} {
		got := reload(step.cfg)
		if !slices.Equal(got, step.want) {
			t.Fatalf("reload %d: needs a restart %q, want %q", i+1, strings.Join(got, " "), strings.Join(step.want, " "))
		}
	}
}

// A reload that changes only max_message_size moves the derived
// body_memory_limit, which applies after a restart: the warning says it
// is derived, not set, so the operator is not told of a setting they
// never wrote as if they had (rt28).
func TestRestartOnlyNamesDerivedBodyMemoryLimit(t *testing.T) {
	parse := func(size, limit string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(fmt.Sprintf(`server: {name: mx.example.test}
transport: {spool_threshold: 100MB%s}
receive_connectors: [{name: x, bindings: ["127.0.0.1:0"], limits: {max_connections: 10, max_message_size: %s}}]
`, limit, size)), "umbra.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	got := restartOnly(parse("1MB", ""), parse("2MB", ""))
	if len(got) != 1 || !strings.Contains(got[0], "derived from the receive connectors' max_message_size") {
		t.Errorf("derived limit moved: %q", got)
	}
	got = restartOnly(parse("1MB", ", body_memory_limit: 10MB"), parse("1MB", ", body_memory_limit: 20MB"))
	if !slices.Equal(got, []string{"transport.body_memory_limit"}) {
		t.Errorf("set limit changed: %q", got)
	}
}
