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

// DefaultMaxHeaderSize is 256 KiB, Exchange's receive connector
// MaxHeaderSize default. A header section (up to its empty line) over it
// is refused with 552 5.3.4: the session edits the header section in
// memory (trace field, header firewall, forged Authentication-Results),
// so it cannot treat the excess as body the way Postfix's
// header_size_limit (100 KiB per header) discards it — a field the
// firewall did not see would reach the next hop.
const DefaultMaxHeaderSize = 256 << 10

func applySpoolDefaults(t *Transport) {
	if t.SpoolThreshold == 0 {
		t.SpoolThreshold = DefaultSpoolThreshold
	}
	if t.MaxHeaderSize == 0 {
		t.MaxHeaderSize = DefaultMaxHeaderSize
	}
}

func validateSpool(v *validator, t Transport) {
	if t.SpoolThreshold < 0 {
		v.add("transport.spool_threshold must be positive", "transport", "spool_threshold")
	}
	if t.MaxHeaderSize < 1024 {
		v.add("transport.max_header_size must be at least 1KiB", "transport", "max_header_size")
	}
}
