package smtp

// QuitBounded ends a session the server is in step with: QUIT, its
// reply read for at most quitWait (not the command timeout: nothing
// waits on a goodbye), then the connection closed whatever came (RFC
// 5321 §4.1.1.10; RFC 2033 for LMTP). A server that does not answer
// the QUIT costs its close at most quitWait. For the end of a
// delivery's LMTP session and of a pooled session (rt41 F4: umbra
// closed its LMTP sessions with no QUIT, and Dovecot logged
// "Disconnect … state=READY" for every delivery); a session out of
// step (a reply that never came, a break) is closed with Close.
func (c *Client) QuitBounded() {
	saved := c.Client.CommandTimeout
	c.Client.CommandTimeout = min(saved, quitWait)
	if saved <= 0 {
		c.Client.CommandTimeout = quitWait
	}
	err := c.Client.Quit()
	c.Client.CommandTimeout = saved
	if err != nil {
		c.Close()
	}
}
