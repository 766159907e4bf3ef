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
		{parse("mx.example.test", "false", "9"), []string{"transport.initial_destination_concurrency/dead_destination_cool_down"}},
		{parse("mx.example.test", "false", "9"), []string{"transport.initial_destination_concurrency/dead_destination_cool_down"}},
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
