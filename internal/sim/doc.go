// Package sim is the seeded in-process simulation of an umbra
// organisation (SIM-1): three hubs in two sites (a1, a2 in site a; b1 in
// site b), two mailbox servers (LMTP stores for databases db-a and db-b)
// and a destination outside the organisation (ext.test, behind b1's send
// connector), all in one process, inside a testing/synctest bubble so that
// every timer — heartbeats, retries, expiry, delayed acknowledgement,
// dumpster age — runs on fake time.
//
// What is real: each hub is the composition of cmd/umbra's serve — the
// queue manager over a bbolt transport database in a temporary directory,
// the dumpster, the shadow manager, the deliverer (SMTP and LMTP client,
// shadow sessions, watch sessions) and the SMTP server with its verb layer
// and receive connector — built from a configuration parsed by package
// config and a topology file parsed and validated as in production. The
// seams are delivery.Config.Dial and smtp.ServerConfig.Listen: this
// package's Network stands in for TCP.
//
// What is modelled:
//   - Network: connections are byte streams in memory, each with its own
//     one-way latency (0–50 ms), so sessions overtake each other. A
//     partition between two hosts black-holes their traffic: dials hang
//     until the dialer's timeout, written data arrives only when the link
//     heals. "Refuse" refuses the next few dials to a host.
//   - Crash (kill -9): the host's connections break at that instant (no
//     reply is written after it), nothing drains, and the transport
//     database keeps exactly what was committed; the dead instance's
//     goroutines are run down and the file is opened again by a new
//     instance. Until its database is closed the dead instance may still
//     commit what work in flight decides, but it can no longer reach
//     anyone (its host is off the network): the same as a crash a moment
//     later. Disk loss: the same, and the file is removed (a new
//     database id). The store runs with UnsafeNoSync: a commit is in the
//     file, which the process crash modelled here cannot lose (a power
//     failure is not modelled).
//   - Mailbox failover: the mailbox store loses what it received in the
//     last N seconds (it came back from a lagging copy, together with its
//     duplicate database), and a minute later the operator has every
//     running hub redeliver that window from its transport dumpster. The
//     mailbox servers apply the rule deploy/dovecot ships (Sieve
//     "duplicate" on X-Umbra-Org-Id): a second copy of an org id for a
//     recipient is dropped and counted.
//   - Traffic: outside clients submit messages of one to three recipients
//     at a.test, b.test and ext.test to any hub; half wait for the delayed
//     acknowledgement, half give up after a second (those messages are not
//     acknowledged, so the checker does not count them). The outside
//     destination refuses recipients whose local part starts with
//     "refuse" (550 5.1.1).
//
// The checker (check) takes every recipient a client got a 250 for and
// finds it delivered once, bounced with a DSN it can explain (refused by
// the destination: 5.1.x for a "refuse" recipient; expired: x.4.7), lost,
// or duplicated. Duplicates at the outside destination are allowed (and
// counted) only when a fault hit the server that relays to it (b1) — its
// crash between the destination's 250 and its own commit, or before its
// discard reached the shadow server, or a partition cutting it off: SMTP
// cannot take a 250 back. A DSN with an action nobody asked for (the
// senders request no NOTIFY) is a failure too.
//
// One fault per seed is the promise (TestSim fails on any loss, duplicate
// at a mailbox or unexplained bounce, naming the seed: SIM_SEED=N runs it
// alone; SIM_LOG=1 logs every server at DEBUG). Two faults per seed
// (TestSimDoubleFaults) are run and reported, not promised. The seed
// fixes the scenario — traffic, faults, latencies — but not the order in
// which goroutines that are runnable at the same fake instant run (the Go
// scheduler decides), so a failing seed usually, not always, fails again.
//
// What is not modelled: TLS and AUTH (the connector is externally
// secured), DNS (smart hosts), edge servers and legacy routing groups,
// message sizes and the delivery concurrency limits under real load,
// clock skew between servers (one fake clock), a crash inside a bbolt
// commit (bbolt's own guarantee), and a partition that is asymmetric or
// drops bytes on an open connection without the peer noticing a reset.
package sim
