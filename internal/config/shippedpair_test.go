package config

import (
	"os"
	"strings"
	"testing"
)

// rdmine45: configs/edge.yaml's to-hubs and configs/hub.yaml's to-edge
// are send_xshadow connectors that log in with a server account. A
// shadow session names this server by server.name (XSHADOW NAME), and a
// server account's name is its server id: the receiving server refuses
// any other, "550 5.7.1 Server id does not match the authenticated
// account" (smtp session.go startShadow). The shipped pair's accounts
// must be the servers' names, or no copy is ever kept (SR-1).
func TestShippedConfigsLogInAsTheirServerIDs(t *testing.T) {
	for _, f := range []string{"../../configs/edge.yaml", "../../configs/hub.yaml"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(raw, f)
		if err != nil && c == nil {
			t.Fatalf("%s: %v", f, err)
		}
		n := 0
		for _, sc := range c.SendConnectors {
			if !sc.SendXShadow || sc.Auth.Username == "" {
				continue
			}
			n++
			if !strings.EqualFold(sc.Auth.Username, c.Server.Name) {
				t.Errorf("%s: send connector %q logs in as %q for shadow sessions naming %q: refused as a server id that is not the account",
					f, sc.Name, sc.Auth.Username, c.Server.Name)
			}
		}
		if n == 0 {
			t.Errorf("%s: no send_xshadow connector that logs in", f)
		}
	}
}
