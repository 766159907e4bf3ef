package config

// Large messages stream (issue 15): a receive session keeps a DATA or BDAT
// body in memory up to transport.spool_threshold, and writes the rest of
// it to a spool file beside the transport database as it is read; only
// the header section stays in memory, bounded by
// transport.max_header_size.

// DefaultSpoolThreshold is 256 KiB: most mail stays in memory (and in
// the database record), a large message costs a session at most this
// much memory for its body.
const DefaultSpoolThreshold = 256 << 10

// DefaultMaxHeaderSize is 1 MiB: the header section (through its empty
// line) a session keeps in memory. umbra cannot discard an excess or
// treat it as body, because the session edits the header section (trace
// field, header firewall, forged Authentication-Results) and a field it
// did not see would reach the next hop. So a header section over the
// limit is refused with 552 5.3.4. 1 MiB: legitimate mail with long
// ARC and DKIM chains stays far below it, and a message hostile to the
// checks (60,000 fields, issue 14) is still answered on what it is
// rather than by its size.
const DefaultMaxHeaderSize = 1 << 20

func applySpoolDefaults(t *Transport) {
	if t.SpoolThreshold == 0 {
		t.SpoolThreshold = DefaultSpoolThreshold
	}
	if t.MaxHeaderSize == 0 {
		t.MaxHeaderSize = DefaultMaxHeaderSize
	}
}

// DefaultSpaceReserve is 16 MiB (capped at 1/16 of the data file
// system's size where it is used): room for the commits that free room
// on a full disk — a takeover of many copies, the results of many
// attempts (queue/spacereserve.go).
const DefaultSpaceReserve = 16 << 20

// DefaultBodyMemoryCeiling is the most transport.body_memory_limit is by
// default: what 1,024 sessions each holding a body of the default
// spool_threshold take.
const DefaultBodyMemoryCeiling = 256 << 20

// transport.body_memory_limit caps the bytes of bodies all receive
// sessions hold in memory together (each up to spool_threshold, or the
// whole body where it cannot spool). Past it a session writes its body to
// a spool file at once, and the message is accepted as any other spooled
// one; a session that cannot spool gets 452 4.3.1 at the end of its data.
// By default it is what every connector's max_connections sessions
// could hold at once (each min(max_message_size, spool_threshold)),
// capped at DefaultBodyMemoryCeiling: a small server never meets it, a
// large one under a flood of large messages spools them instead of
// growing without bound.
func applyBodyMemoryDefault(c *Config) {
	t := &c.Transport
	if t.BodyMemoryLimit != 0 {
		return
	}
	t.BodyMemoryDerived = true
	var worst int64
	for _, rc := range c.ReceiveConnectors {
		worst += int64(rc.Limits.MaxConnections) * min(int64(rc.Limits.MaxMessageSize), int64(t.SpoolThreshold))
	}
	t.BodyMemoryLimit = Size(min(worst, DefaultBodyMemoryCeiling))
	if t.BodyMemoryLimit <= 0 {
		t.BodyMemoryLimit = DefaultBodyMemoryCeiling
	}
}

func validateSpool(v *validator, t Transport) {
	if t.BodyMemoryLimit < 0 {
		v.add("transport.body_memory_limit must be positive", "transport", "body_memory_limit")
	}
	if t.SpoolThreshold < 0 {
		v.add("transport.spool_threshold must be positive", "transport", "spool_threshold")
	}
	if t.MaxHeaderSize < 0 {
		v.add("transport.max_header_size must be positive", "transport", "max_header_size")
	}
	unitFloor(v, "transport.spool_threshold", int64(t.SpoolThreshold), MinSpoolThreshold, "16KiB", "KiB", "256KiB",
		"every body would go to a spool file of its own (a file and its fsync per message)", "transport", "spool_threshold")
	unitFloor(v, "transport.max_header_size", int64(t.MaxHeaderSize), MinHeaderSizeLimit, "16KiB", "KiB", "1MiB",
		"real header sections (Received, DKIM, ARC) are often several KiB: most mail would be refused 552 5.3.4", "transport", "max_header_size")
	if !t.BodyMemoryDerived {
		// The derived default may be small (few small connectors) and is
		// right; a value written below 1MiB is a unit mistake.
		unitFloor(v, "transport.body_memory_limit", int64(t.BodyMemoryLimit), MinBodyMemoryLimit, "1MiB", "MiB", "256MiB",
			"every body would be spooled at once, and one that cannot spool refused 452 4.3.1", "transport", "body_memory_limit")
	}
}
