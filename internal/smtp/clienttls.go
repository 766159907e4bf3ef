package smtp

import "crypto/tls"

// TLSVersion is the protocol version the session negotiated with
// STARTTLS ("TLS 1.2", "TLS 1.3": crypto/tls's names, as the inbound
// metrics use), or "" for a plaintext session.
func (c *Client) TLSVersion() string {
	if cs, ok := c.tlsState(); ok {
		return tls.VersionName(cs.Version)
	}
	return ""
}

// Assurance is what a session's opening established about the next
// hop: the host name it was opened to (an MX name, which an MTA-STS
// policy must list), its address (ip:port) and the check its certificate passed ("" none; the
// opener's names: a policy's source, or the connector's host name
// check). Full says the opener applied its destination's whole TLS
// decision for the host (DANE, MTA-STS, the connector's setting), not
// one a "TLS-Required: No" relaxed: another message to the same
// destination that is not relaxed either needs no more than the session
// met, and no new lookup to know it.
type Assurance struct {
	Host, Addr string
	Verified   string
	Full       bool
}

// TLSVerified reports whether the session's TLS certificate was
// verified for the server's name against the trusted roots (TLSVerify;
// RFC 8689's REQUIRETLS asks for that), not only encrypted
// (TLSOpportunistic, TLSRequired) or matched by a VerifyConnection
// callback alone.
func (c *Client) TLSVerified() bool {
	cs, ok := c.tlsState()
	return ok && len(cs.VerifiedChains) > 0
}

// tlsState is the session's TLS state, false for a plaintext session.
func (c *Client) tlsState() (tls.ConnectionState, bool) {
	conn := c.conn
	for range 4 { // the wrappers NewClient makes; bounded all the same
		switch x := conn.(type) {
		case *tls.Conn:
			return x.ConnectionState(), true
		case *replayConn:
			conn = x.Conn
		case *shadowConn:
			conn = x.Conn
		case *replyLimitConn:
			conn = x.Conn
		default:
			return tls.ConnectionState{}, false
		}
	}
	return tls.ConnectionState{}, false
}
