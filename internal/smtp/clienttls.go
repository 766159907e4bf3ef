package smtp

import "crypto/tls"

// TLSVersion is the protocol version the session negotiated with
// STARTTLS ("TLS 1.2", "TLS 1.3": crypto/tls's names, as the inbound
// metrics use), or "" for a plaintext session.
func (c *Client) TLSVersion() string {
	conn := c.conn
	for range 4 { // the wrappers NewClient makes; bounded all the same
		switch x := conn.(type) {
		case *tls.Conn:
			return tls.VersionName(x.ConnectionState().Version)
		case *replayConn:
			conn = x.Conn
		case *shadowConn:
			conn = x.Conn
		case *replyLimitConn:
			conn = x.Conn
		default:
			return ""
		}
	}
	return ""
}
