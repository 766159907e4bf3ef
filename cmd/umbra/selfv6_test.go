package main

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/config"
)

// config check's warning of a smart host that is this server reads the
// smart host as delivery does (mailaddr.SplitHostPort, the one
// HOST[:PORT] reading): "[::1]" is an address, given, not a name that
// resolves to one.
func TestSelfSmartHostBracketedIPv6IsAnAddress(t *testing.T) {
	for _, sh := range []string{"[::1]", "[::1]:2599", "::1", "127.0.0.1", "127.0.0.1:2599"} {
		sc := config.SendConnector{Name: "loop", SmartHosts: []string{sh}, Port: 2599}
		ws := selfSmartHosts(context.Background(), nil, []string{"[::1]:2599", "127.0.0.1:2599"}, sc)
		if len(ws) != 1 || !strings.HasPrefix(ws[0], "smart host "+sh+" is an address this server listens on") {
			t.Errorf("smart host %s: %q", sh, ws)
		}
	}
}
