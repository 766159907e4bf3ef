package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// rt20d-F8: the README's configuration table gives each receive
// connector limit's default as defaults.go sets it (max_connections,
// max_connections_per_source, idle_timeout, max_message_size,
// max_recipients had none), and says how body_memory_limit's default
// follows from max_connections.
func TestREADMEGivesReceiveLimitDefaults(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `receive_connectors` |") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("no receive_connectors row in the README's configuration table")
	}
	for _, want := range []string{
		fmt.Sprintf("`max_message_size` (%dMiB)", DefaultMaxMessageSize>>20),
		fmt.Sprintf("`max_recipients` (%d)", DefaultMaxRecipients),
		fmt.Sprintf("`max_connections` (%d", DefaultMaxConnections),
		fmt.Sprintf("`max_connections_per_source` (%d", DefaultMaxConnectionsPerSource),
		fmt.Sprintf("`idle_timeout` (%s:", strings.TrimSuffix(DefaultIdleTimeout.String(), "0s")),
		fmt.Sprintf("`max_line_length` (%d;", DefaultMaxLineLength),
		fmt.Sprintf("`max_auth_failures` (%d)", DefaultMaxAuthFailures),
		"`transport.body_memory_limit`",
	} {
		if !strings.Contains(row, want) {
			t.Errorf("the receive_connectors row lacks %s", want)
		}
	}
}
