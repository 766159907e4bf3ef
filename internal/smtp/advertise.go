package smtp

import "umbra/internal/config"

// The XSHADOW advertisement rule (SR-1, W-1), per way of authenticating:
//
//   - externally secured connector: every session is a transport server,
//     so every EHLO offers XSHADOW — with a topology, only to a client
//     whose address the topology gives a server (bindServerID; another
//     would get 550), else by the SASL rule below;
//   - TLS client certificate: the EHLO after STARTTLS is already
//     authenticated, so it offers XSHADOW when the organisation CA
//     verified a certificate, and never before STARTTLS or without one;
//   - SASL: a client's only EHLO comes before AUTH (RFC 4954 asks for no
//     second one), so XSHADOW is offered before AUTH where a server
//     account can still log in on this connector in this state: AUTH is
//     offered now and the credentials file holds at least one server
//     account. XSHADOW itself is then accepted only once such an account
//     has logged in (550 5.7.1 otherwise). An EHLO after AUTH offers it
//     only to a server account.
//
// In every case shadow redundancy must be on organisation-wide and the
// session (as the transport server it is or can become) must hold the
// accept-xshadow right: exactly what XSHADOW itself then checks.
func (s *session) advertiseNow() bool {
	switch {
	case s.srv.shadow == nil:
		return false
	case s.server && s.trustedServer():
		return s.has(config.RightAcceptXShadow)
	case s.server && s.departedAddress():
		// A server the topology dropped, whose copies or notes are held
		// here, may be connecting: its XSHADOW is bound by the held
		// record (bindServerID, departed.go).
		return s.has(config.RightAcceptXShadow)
	case s.user != "":
		return false // logged in with an account that is not a server's
	}
	// A server account logging in gets every list's rights.
	return s.advertiseXShadow() && s.saslServerPossible()
}

// advertiseDigest: the EHLO reply carries XSHADOWDB (the digest of this
// server's database id) on every connector a transport server may open
// a shadow session on — externally secured, verifying client
// certificates (tls.client_ca_file), or offering AUTH to a server
// account — before and regardless of the session's standing: whether
// its claim to be a server holds here (its address, certificate,
// account) and whether it is offered XSHADOW. A shadow server this
// server refuses (its sessions from an address the topology does not
// give it, no accept-xshadow here, …) asks the verb anyway and judges
// the refusal by the digest (shadow doc.go: Judging a refusal): with
// it, the refusal is this server's, alive and holding the mail, and
// its copies are not taken over while it runs (rt30a F1: without it a
// holder whose sessions came from another address took the copy over
// three heartbeats later, and sent it a second time). The digest is no
// secret (the id is). Nothing to a user's session, nor on a connector
// no server could open a shadow session on: one whose lists grant
// accept-xshadow to nobody (grantsXShadow, as XSHADOW's own offer reads
// them) and transport servers nothing (grantsServers).
//
// With shadow redundancy off organisation-wide too (the verbs refused,
// XSHADOW never offered: SR-1): a server restarted with the switch off
// still has the messages whose copies its holders keep from before, and
// delivers them; without the digest their heartbeats, refused, counted
// as failed and the copies were taken over while it ran (shadow31 S2).
// The switch takes the verbs away, not the evidence that this server
// answers with its database (Server.digestOf).
func (s *session) advertiseDigest() bool {
	switch {
	case s.srv.digestOf == nil:
		return false
	case s.server:
		// It claims to be a transport server (its certificate, its
		// server account, the connector's trust), whether the claim
		// holds here or not.
		return true
	case s.user != "":
		return false
	case !s.grantsXShadow() && !s.grantsServers():
		// No list of the connector grants accept-xshadow, nor does it
		// grant transport servers anything: no server could open a
		// shadow session on it, whatever accounts the credentials file
		// holds (rt45-front item 1: the digest went to anonymous
		// clients of a submission connector). A connector granting
		// servers rights without accept-xshadow (a reload took it
		// away) keeps the digest: its holders' heartbeats, refused,
		// must read the primary alive (shadow29 item 6).
		return false
	}
	if c := s.inForceOrOwn(); c.cfg.ExternallySecured || c.tls != nil && c.tls.ClientCAs != nil {
		return true
	}
	return s.saslServerPossible()
}

// saslServerPossible: AUTH is offered in the session's present state and
// a server account exists to log in with.
func (s *session) saslServerPossible() bool {
	c := s.authConn() // AUTH as the connector in force at the session's address offers it (authreload.go)
	if c == nil || c.creds == nil || len(c.cfg.Auth.Mechanisms) == 0 || !c.creds.HasServer() {
		return false
	}
	if s.vc != nil && s.vc.authNeedsTLS() {
		// AUTH only after STARTTLS (the EHLO after it offers XSHADOW),
		// or not at all on a connection that cannot STARTTLS.
		return false
	}
	return true
}

// LoginAccounts counts the file's accounts that are not transport
// servers' (a directory asked per name, ext, is not counted): those
// that may log in to the web console, which refuses server accounts.
func (c *Credentials) LoginAccounts() int {
	n := 0
	for _, a := range c.users {
		if !a.server {
			n++
		}
	}
	return n
}

// LoginStamp is what the file holds for name when it is an account that
// may log in to the web console (not a transport server's): its stored
// hash, which the console keeps with a session so that a session ends
// once its account is removed or its password changed. ok false when
// name is no such account.
func (c *Credentials) LoginStamp(name string) (stamp string, ok bool) {
	if c == nil {
		return "", false
	}
	a, ok := c.users[name]
	if !ok || a.server {
		return "", false
	}
	return string(a.hash), true
}

// HasServer reports whether any account is a transport server's.
func (c *Credentials) HasServer() bool {
	if c.ext != nil && c.ext.HasServer() {
		return true
	}
	for _, a := range c.users {
		if a.server {
			return true
		}
	}
	return false
}
