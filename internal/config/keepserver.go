package config

import (
	"path/filepath"
	"strings"
)

// KeepServer puts the running server section into c, a reload's
// configuration (the server section applies only at a restart), the
// admin socket excepted (the reload moves it), and derives again from it
// what the loader derived from the file's server section: a
// message_authentication.authserv_id and an ARC authserv_id the file does
// not write (server.name's), and a relative mailbox.maildir (under
// data_dir). Without this a reload that renamed the server wrote
// Authentication-Results under the new name while it received and
// greeted as the old, and one that moved data_dir delivered into the new
// data directory's Maildir while its queue stayed in the old (rr34).
func (c *Config) KeepServer(running *Config) {
	file := c.Server
	c.Server = running.Server
	c.Server.AdminSocket = file.AdminSocket
	if file.Name != c.Server.Name {
		id := ""
		if IsDomain(c.Server.Name) {
			id = strings.ToLower(c.Server.Name)
		}
		for i := range c.ReceiveConnectors {
			if !c.Written("receive_connectors", i, "message_authentication", "authserv_id") {
				c.ReceiveConnectors[i].MessageAuthentication.AuthservID = id
			}
		}
		if c.DKIM.ARC.Enabled() && !c.Written("dkim", "arc", "authserv_id") {
			c.DKIM.ARC.AuthServID = id
		}
	}
	if file.DataDir != c.Server.DataDir && c.Mailbox.Maildir != "" {
		if n, _ := nodeAt(c.doc, []any{"mailbox", "maildir"}); n != nil && n.Value != "" && !filepath.IsAbs(n.Value) {
			c.Mailbox.Maildir = filepath.Join(c.Server.DataDir, n.Value)
		}
	}
}

// PostmasterDerivedFrom says what a derived server.postmaster comes from,
// as defaultPostmaster derives it: "the first authoritative domain",
// "the domain of server.name" or "the first internal_relay domain" (""
// for one the file sets).
func (c *Config) PostmasterDerivedFrom() string {
	if !c.Server.PostmasterDerived {
		return ""
	}
	pm, from := derivePostmaster(c)
	if !strings.EqualFold(pm, c.Server.Postmaster) {
		// A running configuration after a reload: its server section
		// is the one it started with (KeepServer, keepRunning), its
		// accepted domains the reload's, which did not derive it.
		return "the accepted domains umbra started with"
	}
	return from
}
