package admin

// OtherServeErr is otherServeErr for a command that reads the default
// configuration's data directory itself instead of asking the daemon
// (umbra db compact, db restore): where that directory holds no
// database, the umbra serve processes that run, started otherwise, are
// named as the socket commands name them (rt27e F5), never a bare
// "no such file". nil when the command named a configuration or a
// socket, or no such process runs.
func (c *Client) OtherServeErr() error { return c.otherServeErr() }
