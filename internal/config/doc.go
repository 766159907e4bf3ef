// Package config reads umbra's YAML configuration.
//
// Invariants:
//   - Decoding is strict: a key that names no field is an error, reported
//     with file and line, as is every type mismatch and every validation
//     failure. Parse collects all errors of a file, not just the first:
//     the node tree is checked before decoding (fieldCheck), every value
//     that would not decode (wrong kind or shape, a duration or size
//     that does not parse, an unknown key) is reported at its line in
//     the operator's words and left out, the rest is decoded and
//     validated, and the validation errors come with them — except
//     those about a setting left out, which would be about its default,
//     and those of a check that compares a written key with one left
//     out (violation.reads: delay_notification against
//     message_expiration, auth.required against auth.mechanisms …),
//     which would blame the written key for a default nobody wrote.
//     A second YAML document (after "---" or "...") is refused at its
//     line, not dropped as yaml.Unmarshal drops it.
//   - Every value is of its setting's kind, checked on the node tree
//     before decoding for the whole file (kinds.go), not setting by
//     setting: yaml.v3 alone truncates 0.5 into an int and reads yes/on
//     as booleans. A leading zero whose octal and decimal readings
//     differ (010) is refused naming both, in a whole number and alike
//     in a size, a duration and a port, which their own parsers read in
//     decimal (leadingZeroText). A HOST[:PORT] umbra sends to (a smart
//     host, and outside the configuration a queue redirect's target,
//     a redirect queue's name and the smart hosts the admin API's
//     self-check is given) has one check, CheckHostPort, in one
//     wording: its port takes no leading zero at all. A size is whole bytes, or a whole
//     number and a unit spelled exactly: KiB, MiB, GiB (1024-based), KB,
//     MB, GB (1000-based), B (units.go sizeUnits; the README's "size
//     unit" table lists the same, TestSizeUnitsDocumented holds them
//     together).
//   - Every address range (remote_ranges, rate_limits.exempt, a topology
//     site's subnets and server's source_addresses) goes through
//     ParseRange: a prefix with host bits set (10.9.9.9/0) is an error at
//     its line, never taken silently as its masked prefix (0.0.0.0/0);
//     an IPv4-mapped prefix (::ffff:10.0.0.0/104) is the IPv4 prefix it
//     maps (10.0.0.0/8), as the addresses matched against it are
//     unmapped: written IPv6 it would load and never match.
//     A server's source_addresses reach at most a /8 of IPv4 or a /32 of
//     IPv6, each entry and all together (minSourcePrefix4/6, topology.go):
//     no server's connections come from more. An address is judged as
//     its unmapped self (::ffff:0.0.0.0 is 0.0.0.0): one rule for every
//     spelling.
//   - No configuration Load accepts is an open relay (SMTP-3):
//     checkOpenRelay refuses relay for sessions nobody authenticated
//     (anonymous, or servers on an externally secured connector) unless
//     remote_ranges is written and every range is in NonPublicRanges.
//   - Every default lives in defaults.go. A field whose zero value is a
//     meaningful setting (shadow_redundancy_enabled: false,
//     delay_notification: 0, max_acknowledgement_delay: 0) is preset
//     before decoding so that an explicit zero survives. Any other zero or
//     empty value the file writes is an error at its line, never replaced
//     by the default after decoding: Parse remembers the fields the file
//     sets to zero (explicitZeros) and reports each one applyDefaults
//     changed (zerovalues.go), so a new defaulted field is covered too;
//     a string whose default is derived where it is used, not by
//     applyDefaults (the console's files, dkim.arc.authserv_id), is
//     listed there (derivedAtUse) and refused alike.
//   - Relative paths are resolved once, at load: files against the
//     configuration file's directory, the admin socket and the Maildir
//     against the data directory; unix socket paths (the admin socket, a
//     unix: mailbox.lmtp) are then made absolute, so their length, which
//     a socket address bounds, does not depend on how the file is named.
//   - A *Config is immutable after Load returns; reloading builds a new one
//     and swaps it in whole.
//   - The topology file (topology.go) is validated totally, each error at
//     its line, all in one run: a value that does not decode is left out
//     and the rest validated, as the configuration's (decodeAll; rt33c
//     F9), and config check gives them with the errors of a
//     configuration that does not load (TopologyErrors): every numeric field in its range, every name resolved,
//     and the graph (a site no link reaches, a server no subnet places, a
//     legacy routing group no connector reaches, a group that contains
//     itself). A file LoadTopology accepts is one routing accepts
//     (internal/topology's FuzzLoad holds this), and one in which every
//     database and edge has a hub to route through, no two servers share
//     an address and no two names differ only in case (topologyRules;
//     names are ASCII). A server's name is a host name: compared without
//     letter case and final dot (canonicalTopologyNames), every
//     reference taking the spelling its server is defined with, so that
//     every later comparison is of one string; CheckTopologyServer
//     refuses server.name in another spelling. A cost written as 0 is
//     refused (zeroCosts), here and in the configuration. CheckTopologyServer ties the file to one server's
//     configuration (its role, its address), and BindingsOfOtherServers
//     the other way (no binding on another server's address), for serve,
//     SIGHUP and config check.
//   - What can only fail at start is refused at load, at its line
//     (listeners.go): listeners of one configuration that cannot all be
//     opened, a directory setting naming a file, a path serve writes
//     (data_dir, the Maildir tree, the pickup directory, the tracking
//     log, the admin socket: writtenPlaces) with a file that is not a
//     directory anywhere on its way up to the root, a spool directory in
//     data_dir that is not a directory, an admin socket path longer than
//     a unix socket address, an admin socket path holding something
//     else. ListenersNotHere and SourceAddressesNotHere (a
//     listener's or an outbound source address this machine does not
//     have) run in config check, serve and SIGHUP, not in Load: other
//     commands read the configuration on another machine.
//   - No place umbra writes (the tracking log and its rotations, the
//     Maildir tree, the pickup directory, the spool) is, holds or lies
//     inside a file umbra reads or owns otherwise, or another such place
//     (writepaths.go): refused at load, at a line, after relative paths
//     and links are resolved. WriteConflict gives the CLI's files (a
//     DKIM key, an exported message, a backup) the same judgement, and
//     WriteConflictHeld gives it again on the file's directory as the
//     command holds it open, by device and inode (a path judged before
//     may lead elsewhere by the time the command writes). The names a
//     start removes beside queue.db (a killed backup's snapshots
//     .queue.db.snapshot-…, a killed compaction's or restore's files)
//     are places too, read from the one list queue's start uses
//     (internal/leftover), so a refused name and a removed one cannot
//     drift apart.
//   - A file's content is checked by the loader that reads it for
//     serve, and nowhere else, so config check and serve cannot differ
//     on it: LoadKeyPair (certificate and key pairs), AppendCAFile (CA
//     files) here, the password, key and directory loaders in their
//     packages. A loader refuses a file with a FileError naming its
//     setting; Config.Place puts it at the setting's line. Load does not
//     read them: other commands read the configuration without the keys
//     (often readable by the daemon only). Each reads its file up to the
//     limit of its kind (ReadFileLimit, LimitReader, the Max…FileSize
//     constants): a setting pointed at a huge file is refused naming the
//     limit, not read whole.
//     Listeners gives serve and SIGHUP each listener with its setting,
//     so that one another process holds is refused at its line too.
//   - A domain the file writes (an accepted domain, an address space, a
//     DKIM domain, a DNSBL zone, a server or host name) is compared as
//     mailaddr.Name keys it, wherever it is compared (here, in routing
//     and in the CLI): without its final dot, ASCII case folded, an
//     internationalised label as its A-label. No other normalisation of
//     a configured domain exists.
//   - Configured text written into a protocol line or field (a receive
//     connector's banner, a connector's name — the milters'
//     {daemon_name} —, a smart host's auth.username) is printable
//     ASCII and not only whitespace (protocolTextProblem): a CR/LF in
//     the greeting would be a reply line of its own, a NUL would end a
//     milter macro or an AUTH PLAIN field.
//   - A derived default is built from valid values only, so one bad value
//     is one error at the operator's line (rt22 F3), and the postmaster
//     (taken from anyone) is always inside the organisation.
//   - An Error is one line. A value of the setting it is placed at that
//     holds a control character (a path with a newline) is quoted as Go
//     quotes a value wherever the message names it, as written or
//     resolved (shownValue; a path derived from it too), and any line
//     break left in a message is written \n (oneLine): a configured path
//     cannot forge a line of config check's output, nor split one of its
//     --json errors into several. The Error's own file name is written
//     by the same rule (ShownPath: the topology's, read from a path a
//     setting gave), as is a path a command's message names.
//
// The package imports no other umbra package but the leaf utilities mailaddr and filelimit.
package config
