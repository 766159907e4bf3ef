package smtp

// The reasons umbra_smtp_connections_rejected_total records: the one
// list the server counts by and the metric's help names (metrics).
const (
	RejectNoConnector     = "no connector for remote address"
	RejectMaxConnections  = "max_connections reached"
	RejectMaxPerSource    = "max_connections_per_source reached"
	RejectJunkCommands    = "junk command limit"
	RejectErrors          = "error limit"
	RejectRecipients      = "recipient limit"
	RejectLineLength      = "line length"
	RejectTransactionTime = "transaction time"
	RejectDataRate        = "data rate"
	RejectDataTime        = "data time"
	// RejectWriteTimeout: the client did not read its replies — a reply
	// write waited idle_timeout (at most a minute) — so the session ends
	// with nothing more written (replyWait, trackedConn.Write).
	RejectWriteTimeout = "write timeout"
)

// RejectReasons lists every reason, in the order the help names them.
var RejectReasons = []string{RejectNoConnector, RejectMaxConnections, RejectMaxPerSource, RejectJunkCommands,
	RejectErrors, RejectRecipients, RejectLineLength, RejectTransactionTime, RejectDataRate, RejectDataTime, RejectWriteTimeout}
