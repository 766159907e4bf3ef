package queue

import (
	"encoding/binary"
	"time"
)

// The transport database schema: every bucket, and the layout of every
// key. Nothing outside this file names a bucket.
//
//	meta      "db_id"          → 32 hex digits, random, made with the database
//	          "schema_version" → 1 byte
//	          "created"        → RFC 3339 time
//	          "backup_of"      → database id ‖ 0x00 ‖ RFC 3339 time: only in a
//	                             backup (SaveBackup); the Open that finds it gives
//	                             the restored file a new id and deletes it
//	          "restored_upto"  → ID (8, BE): the last message record of a
//	                             restored backup, written by the Open that took
//	                             its mark; shadow copies up to it are asked
//	                             about at once (heldquery.go)
//	          "rate_counters"  → the receive connectors' rate limit counters
//	                             (package ratelimit's snapshot; ratecounters.go)
//	messages  ID (8, BE)       → message record (record.go)
//	bodies    ID (8, BE)       → message bytes as received, trace header first;
//	                             more than bodyAloneMin bytes: a bucket of
//	                             its own, 0x00 → the bytes (bodyalone.go)
//	schedule  due (8, BE unix nanoseconds) ‖ ID (8, BE) → empty
//	          one entry per Ready message: the time index of retries
//	active    ID (8, BE)       → empty
//	          one entry per Active message: what was in flight at a crash
//	queues    queue name ‖ 0x00 ‖ ID (8, BE) → state (1 byte)
//	          one entry per (message, queue of its pending recipients):
//	          the per-next-hop queues. Key order within a queue is
//	          arrival order, so the first key is the oldest message.
//	suspended queue name → empty: queues the operator suspended
//	discards  shadow server (serverKey: mailaddr.NameKey, holderfold.go) ‖ 0x00 ‖ shadow message id → prepared-at (8, BE unix nanoseconds)
//	          discard notifications owed to shadow servers (SR-3), kept
//	          until the reply carrying them was written
//	early     primary (serverKey) ‖ 0x00 ‖ shadow message id → received-at (8, BE)
//	          ‖ the primary's rollback mark stored then (8, BE) ‖ its
//	          database id (earlystale.go; an earlier release wrote the
//	          time alone, and prunes only such entries)
//	          discards that arrived while their message was still in
//	          delivery here, or before their copy on receipt; the commit
//	          of its results (or of the copy) consumes them
//	delivered database ‖ 0x00 ‖ sha256(org id ‖ 0x00 ‖ recipient)[:16] → delivered-at (8, BE)
//	          final deliveries into mailbox databases, to suppress
//	          duplicates (SR-11), keyed on the organisation message id
//	          (SR-14), never on the sender's Message-ID; the recipient
//	          as mailaddr.AddrKey gives it (an earlier release's
//	          lower-cased form is looked up too: EarlierKeys)
//	deliveredat database ‖ 0x00 ‖ delivered-at (8, BE) ‖ hash (16) → empty
//	          the same records by time: pruning by age, and clearing a
//	          database's records since a time (redelivery request)
//	dumpster  database ‖ 0x00 ‖ kept-at (8, BE unix nanoseconds) ‖ ID (8, BE) → message record
//	          copies of delivered messages per mailbox database (TD-1),
//	          oldest first; the record holds that database's recipients
//	dumpbodies the same key → message bytes, in either form of bodies
//	dumpstats database → messages (8, BE) ‖ bytes (8, BE): running totals
//	requests  request id → request record (dumpster.go): redelivery
//	          requests, so that a retried request is not carried out twice;
//	          version-1 layout, which the previous release reads
//	requestext request id → the request's fields added since version 1
//	          (dumpster.go: its FirstID, copies skipped as unreadable),
//	          apart so that a rollback still reads the record
//	orgids    org id ‖ 0x00 ‖ ID (8, BE) → empty
//	          one entry per queued message with an org id, kept by
//	          Tx.Put/Tx.Delete: a resubmitted copy of a message still
//	          queued here is found and merged into it (Manager.Submit)
//	submitkeys submission key → ID (8, BE) ‖ submitted-at (8, BE)
//	          written in the commit that queues a keyed submission (a
//	          pickup file), so that offering it again queues nothing
//	          (Manager.SubmitKeyed); pruned after message_expiration —
//	          a key with a submitnames entry only once its file is gone
//	submitnames submission key → the pickup file's name (NAME.eml)
//	          written with a pickup submission's key, in its commit: the
//	          key is kept past message_expiration while that file (that
//	          drop, unmarked) may still be there, forgotten only when
//	          the pickup directory says it is gone
//	          (ManagerConfig.PickupKeyGone, pickupkeys.go)
//	pickupends ID (8, BE) → ended-at (8, BE) ‖ the file's name (NAME.eml)
//	          written by the commit that removes a pickup message's
//	          record (Tx.Delete): its NAME.<id>.queued file may go
//	          (Manager.PickupFate; any other such file is submitted
//	          again); pruned after message_expiration only once its
//	          file is gone (ManagerConfig.PickupFileGone)
//	rcptcache address (recipients.Callout.key: mailaddr.AddrKey for an authoritative domain, EarlierKeys read too; the local part exact for another) → known (1 byte: 1 known, 0 unknown) ‖
//	          checked-at (8, BE unix nanoseconds) ‖ next hop's reply
//	          the recipient callout's answers (SMTP-6, rcptcache.go), kept
//	          so that an edge decides RCPT while its hubs are down;
//	          at most recipients.callout.max_entries of them
//	rcptage   kind (1 byte: 0 unknown, 1 known) ‖ checked-at (8, BE) ‖
//	          address → empty: the eviction order of rcptcache, negative
//	          answers first, then the oldest positive ones; meta key
//	          rcpt_count holds the number of rcptcache entries (8, BE),
//	          both written in the commit that writes the answer
//	shadowpeers primary → shadow peer record (shadowstate.go): what this
//	          server, as shadow server, knows of each primary it holds
//	          copies for — address, database id, last contact, start of
//	          the last failed heartbeat, consecutive failures, taken over
//	          (SR-13); written in the commits that change the copies
//	earlytakeover ID (8, BE) ‖ 0x00 ‖ primary → taken-at (8, BE) ‖ the
//	          database id its copies go back to (takenby), if any
//	          takeovers of a message that was in delivery here; the
//	          commit that ends its attempt applies them (one writer)
//	takenby   primary ‖ 0x00 ‖ ID (8, BE) → database id, or empty
//	          one entry per (message, primary it has a taken-over copy
//	          of: a pending recipient still naming that primary and its
//	          shadow id), kept by Tx.Put/Tx.Delete and made to agree with
//	          the records at every Open (takenindex.go); the value is the
//	          primary's database the copy goes back to when it answers
//	          again with it (a takeover for failed heartbeats), empty for
//	          never
//	tlspolicy lower-cased domain → cached MTA-STS policy (tlspolicy.go;
//	          opaque to the queue, encoded by package tlspolicy), so a
//	          policy survives restarts until its max_age (RFC 8461 §5.1)
//	tlsrpt    day (YYYY-MM-DD) ‖ 0x00 ‖ policy domain → TLS-RPT counters
//	          of that day (opaque, package tlspolicy), until the day's
//	          report was sent (RFC 8460)
//	spooled   'm' ‖ ID (8, BE), or 'd' ‖ dumpster key → offset (8, BE) ‖
//	          length (8, BE) ‖ spool file name: a body whose content is
//	          its value in bodies (or dumpbodies), the head, followed by
//	          that part of the file in the spool directory beside the
//	          database (spoolref.go); absent for a body stored whole
//	spoolfiles spool file name → references (8, BE): how many spooled
//	          entries name the file; changed in the commits that add and
//	          drop them, deleted with the last, after which the file is
//	          removed. A file in the spool directory without a count is
//	          garbage (removed at Open)
//	redelivery ID (8, BE) → empty: a message whose delivery keeps a
//	          dumpster copy even when the mailbox store already has the
//	          copy (back from the dumpster, attempted again after an
//	          attempt whose results were lost, or in a restored backup;
//	          dumpster.go), until it is deleted
//	shadowholders shadow server name (serverKey: mailaddr.NameKey; a release
//	          before lower-cased it, folded at Open: holderfold.go) → its transport database
//	          id as this server (the primary) last met it (holders.go): a
//	          server met with another id lost the copies it kept for this one
//	keptmissing shadow server (serverKey) ‖ 0x00 ‖ copy id → first missing (8, BE)
//	          when an answer to XQUERYKEPT first said the copy of a
//	          message pending here missing on that holder; a second such
//	          answer a probe interval later marks the message held by
//	          this server only (keptcopy.go)
//	holderaddrs lower-cased shadow server name (mailaddr.NameKey) → the
//	          address (host:port) this server last reached it at
//	          (holderaddr.go): the discards owed to a server no longer
//	          in the topology are pushed there
//	singlecopy ID (8, BE) → marked-at (8, BE) ‖ server name: a message
//	          held by this server only, its copy on that server lost (the
//	          server's new database id) or never made; after the server
//	          name, 0x02 ‖ what befell the copy when known (removed,
//	          damaged, taken-over, held, quarantined, push cut, no reply:
//	          SingleCopy.How;
//	          none, as an earlier release wrote every mark it did not
//	          know more of, reads as lost); its copy is made
//	          again and the entry goes (holders.go); meta key
//	          single_count holds the number of entries that name no
//	          holder of a copy made again while in delivery (8, BE),
//	          written with them (putMark, dropMark) and counted again at
//	          every Open
//	receiptpush ID (8, BE) → shadow server name: a copy on receipt pushed
//	          after the commit that named that server, its outcome not
//	          recorded yet; Recover moves it to receiptpushasked
//	          (pushcrash.go)
//	receiptpushasked ID (8, BE) → shadow server name: a note of a push
//	          on receipt a restart found; that server is asked whether
//	          it stored the copy (XQUERYKEPT): kept, the entry goes;
//	          no record, or none within the takeover bound
//	          (SetPushAskBound), the message is marked push cut
//	          (pushcrash.go, keptcopy.go)
//	peerdbs   database id ‖ 0x00 ‖ primary name → the address its copies
//	          went to (ShadowPeer.Addr): every database id met as that
//	          primary's, kept when its shadowpeers record goes and when
//	          the primary presents a new id (retired); and every id met
//	          as a shadow server's (its shadowholders key → empty);
//	          removed by the operator (ForgetDatabaseID; peerdb.go), and
//	          a retired one (no record holds it) beyond the
//	          RetiredDatabaseIDsKept most recent of its server by the
//	          commit retiring one more (retiredbound.go)
//	peerdborder server name (as its peerdbs key ends) ‖ 0x00 ‖ sequence
//	          (8, BE) → database id: the order each server's ids were
//	          first met, written and removed with their peerdbs entries
//	          (retiredbound.go); entries a release without it wrote get
//	          one at Open
//	takeoverfailures primary name → uvarint: the count of failed heartbeats
//	          that made the primary's takeover, while it is taken over
//	          (written with its shadowpeers record; shadowstate.go)
//	finished  org id ‖ 0x00 ‖ rcptKey(address) → finished at (8, BE) ‖ flags (1; 2: keyed by rcptKey, else folded by an earlier release) ‖
//	          lower-cased shadow server ‖ 0x00 ‖ shadow id: a recipient
//	          finished here of a message with a copy elsewhere, so that the
//	          copy coming back is not delivered again (finished.go)
//	finishedat finished at (8, BE) ‖ its finished key → empty: for pruning
//	holdermarks 0x00 ‖ shadow server's database id (as recorded in
//	          shadowholders), or the server name (serverKey) while none is
//	          recorded → counter (8, BE): raised in every commit that names
//	          that server as the keeper of a copy (marks.go); presented to
//	          it so that it sees a rolled-back file; one counter per
//	          database whatever name the server is given (rt20c-F1);
//	          0x01 ‖ server name (serverKey) → database id: a name
//	          refused an id of its own because it is another name's,
//	          whose copies raise that database's counter (marks.go)
//	heldsince ID (8, BE) → held-at (8, BE unix nanoseconds): when the
//	          hold of a message held by itself (suspended, poison) began,
//	          written by the Put that holds it and deleted by the one that
//	          releases it or the record's Delete (heldage.go); made by the
//	          first hold
//	received  ID (8, BE) → arrived (8, BE unix nanoseconds) ‖ earlier
//	          (8, BE nanoseconds): the receipt of a message whose age's
//	          clock a release from an operator's hold moved, written by
//	          the Put of that release and deleted with the record
//	          (received.go); made by the first such release
//	damaged   ID (8, BE)       → a message record that does not decode, its
//	          bytes as found (damaged.go): set aside by the Open or the
//	          claim that found it, with a queues entry damaged ‖ 0x00 ‖ ID
//	          and no other index entry; its body stays in bodies;
//	          ID ‖ "copy-of" → the primary of a shadow copy so set aside;
//	          ID ‖ "holder" → the server holding the copy its head names,
//	          when the holder fold pointed the head's spelling at
//	          another server (holderfold.go pointNotesAt)
//	bodysums  'm' ‖ ID (8, BE), or 'd' ‖ dumpster key → CRC-32C (4, BE) of
//	          the body's value in bodies (or dumpbodies): the whole of a
//	          body stored whole, the head of a spooled one; written and
//	          deleted with that value (bodysum.go); absent for a body an
//	          older release wrote, which is read unchecked
//	primarymarks mailaddr.NameKey(primary) → mark (8, BE) ‖ database id:
//	          the highest mark that primary is proved to have reached
//	          with that database (marks.go); a lower one presented means
//	          a rollback. One key for every spelling of the name (a
//	          release before keyed it by the name as presented: every
//	          spelling read with the key's own, the highest counting —
//	          foldMarks —, removed by the next write)
//	shadowids shadow id ‖ 0x00 ‖ ID (8, BE) → empty: one entry per
//	          record whose ShadowID is set, kept by Tx.Put/Tx.Delete and
//	          checked at every Open (shadowidindex.go): the notes that
//	          name copies find their records without a walk
//	takendonewait holder (serverKey) ‖ 0x00 ‖ shadow id ‖ 0x00 ‖ rcptKey
//	          (as takendone) → at (8, BE) ‖ kind ‖ address: a holder's
//	          taken-done notes kept for a record that was in delivery
//	          when told, applied by the next batch (takendonewait.go)
//	takenhanded server ‖ 0x00 ‖ its shadow id ‖ 0x00 ‖ rcptKey ‖ 0x00 ‖
//	          primary's database id → at (8,
//	          BE) ‖ primary's database id ‖ 0x00 ‖ primary's shadow id ‖
//	          0x00 ‖ address: a recipient taken over from that primary and
//	          handed to server in a shadow session, turned into a
//	          takendone note by the commit that applies server's discard
//	          (takenhanded.go)
var (
	bucketMeta       = []byte("meta")
	bucketMessages   = []byte("messages")
	bucketDamaged    = []byte("damaged")
	bucketBodies     = []byte("bodies")
	bucketSchedule   = []byte("schedule")
	bucketActive     = []byte("active")
	bucketQueues     = []byte("queues")
	bucketSuspended  = []byte("suspended")
	bucketDiscards   = []byte("discards")
	bucketEarly      = []byte("early")
	bucketDelivered  = []byte("delivered")
	bucketDelivAt    = []byte("deliveredat")
	bucketDumpster   = []byte("dumpster")
	bucketDumpBody   = []byte("dumpbodies")
	bucketDumpStats  = []byte("dumpstats")
	bucketRequests   = []byte("requests")
	bucketRequestExt = []byte("requestext")
	bucketOrgIDs     = []byte("orgids")
	bucketSubmitKey  = []byte("submitkeys")
	bucketRcptCache  = []byte("rcptcache")
	bucketRcptAge    = []byte("rcptage")
	bucketPeers      = []byte("shadowpeers")
	bucketTaken      = []byte("earlytakeover")
	bucketTakenBy    = []byte("takenby")
	bucketTLSPolicy  = []byte("tlspolicy")
	bucketTLSRPT     = []byte("tlsrpt")
	// bucketRedeliver: the messages a redelivery request put back in the
	// queue from the dumpster (Tx.MarkRedelivery), and those attempted
	// again after an attempt whose results were lost (Tx.markRepeat),
	// until they are gone: a copy of theirs the mailbox store already has
	// keeps its dumpster copy (dumpster.go). Value: "request:" and the
	// request's scan name (a redelivery), "repeat" (then NUL and a
	// redelivery's value, if it had one), or empty (a restore; an older
	// release's redelivery): Tx.priorOf reads it at the claim.
	bucketRedeliver = []byte("redelivery")
	// bucketHolders, bucketSingle: the primary's view of the servers
	// that keep its messages' shadow copies (holders.go).
	bucketHolders = []byte("shadowholders")
	bucketSingle  = []byte("singlecopy")
	// bucketHolderMarks, bucketPrimaryMarks: the rollback marks of
	// either side (marks.go).
	bucketHolderMarks  = []byte("holdermarks")
	bucketPrimaryMarks = []byte("primarymarks")
	// bucketPartial: partial discard notifications owed to shadow
	// servers (partialdiscard.go).
	bucketPartial = []byte("partialdiscards")
	// bucketHandBack: messages given to the holder of their shadow copy,
	// owed to it as XQUERYDISCARD lines (handback.go).
	bucketHandBack = []byte("handback")
	// bucketDropped: shadow copies an operator removed here, owed to
	// their primaries as XQUERYDROPPED lines (droppedcopy.go).
	bucketDropped = []byte("dropped")
	// bucketFolded: the relay id each recipient of a relayed copy folded
	// under its org id was filed under before (receiptcopy.go).
	bucketFolded = []byte("foldedrelay")
	// bucketPushing: copies on receipt pushed after their commit whose
	// outcome is not recorded yet (pushcrash.go).
	bucketPushing = []byte("receiptpush")
	// bucketPushAsked: copies on receipt whose note of a push in flight
	// a restart found, their holder not asked yet whether it stored
	// them (pushcrash.go). Not in allBuckets: made by the first such
	// restart.
	bucketPushAsked = []byte("receiptpushasked")
	// bucketTakeoverFailures: per primary taken over for failed
	// heartbeats, the count that made the takeover (shadowstate.go).
	bucketTakeoverFailures = []byte("takeoverfailures")
	// bucketDisowned: per primary that refused this server's session as
	// presenting another server's transport database id (a copy of
	// another's data dir), the refusal's reply (disowned.go). Made by
	// the first such refusal, not at open: most databases never hold
	// one.
	bucketDisowned = []byte("disowned")
	// bucketFinished, bucketFinishedAt: recipients finished here of
	// messages with a copy elsewhere, by org id and by time (finished.go).
	bucketFinished   = []byte("finished")
	bucketFinishedAt = []byte("finishedat")
	// bucketCarried: shadow copies of other servers a queued original
	// carries, by original and by copy; the original's entry names the
	// recipients carried, each settled as the original finishes it, the
	// rest when it ends (carried.go). The server in either key is
	// serverKey of the copy's holder (a release before kept the name as
	// stated: folded at Open, holderfold.go).
	bucketCarried = []byte("carriedcopies")
	// bucketPeerDBs: the primaries' database ids met, by id (peerdb.go).
	bucketPeerDBs = []byte("peerdbs")
	// bucketPeerDBOrder: each server's ids in the order first met, for
	// the bound of retired ids (retiredbound.go).
	bucketPeerDBOrder = []byte("peerdborder")
	// bucketTakenDone: recipients of taken-over copies (any kind of
	// takeover) finished here, for their returning primary
	// (takendone.go).
	bucketTakenDone = []byte("takendone")
	// bucketShadowIDs: the message records by the id of their copy
	// (shadowidindex.go).
	bucketShadowIDs = []byte("shadowids")
	// bucketTakenDoneWait: a holder's taken-done notes kept for a record
	// that was in delivery when they were told (takendonewait.go).
	bucketTakenDoneWait = []byte("takendonewait")
	// bucketTakenHanded: recipients of taken-over copies (any kind of
	// takeover) that this server handed to another transport server,
	// for their primary's takendone note once that server's discard
	// settles them (takenhanded.go).
	bucketTakenHanded = []byte("takenhanded")
	// bucketHolderStated: the name a shadow server stated as its own
	// when its database id was recorded under its topology name
	// (holders.go: the link an id's move needs).
	bucketHolderStated = []byte("holderstated")
	// bucketRefusedHere: the server ids whose shadow sessions this
	// server's receive side refused since the last one let in
	// (refusedhere.go). Not in allBuckets: made by the first refusal it
	// records, so a database that never refused a session keeps the
	// layout it had.
	bucketRefusedHere = []byte("refusedhere")
	// bucketDigestless: the primaries a completed session proved to be
	// of a release that advertises no database digest, with the id
	// proved (digestless.go). Not in allBuckets: made by the first
	// record, as refusedhere.
	bucketDigestless = []byte("digestless")
	// bucketPickupEnds: the pickup messages whose end this database
	// recorded (pickupfate.go). Not in allBuckets: the first such end
	// makes it, so a database of a server without pickup is as before.
	bucketPickupEnds = []byte("pickupends")
	// bucketHolderAddrs: the address each shadow server of this
	// server's messages was last reached at (holderaddr.go), so that
	// the discards owed to one the topology no longer lists still
	// reach it. Not in allBuckets: made by the first record, as
	// refusedhere.
	bucketHolderAddrs = []byte("holderaddrs")
	// bucketSubmitNames: the pickup file each pickup submission key
	// names (pickupkeys.go). Not in allBuckets: the first pickup
	// submission makes it. Apart from submitkeys, whose layout a
	// previous release reads (it prunes such a key by age, as before).
	bucketSubmitNames = []byte("submitnames")
	// bucketTakenBusy: the originals kept out of delivery while the shadow
	// server that took their copy over has it in delivery (takenbusy.go).
	// Not in allBuckets: made by the first such answer, as refusedhere.
	bucketTakenBusy = []byte("takenbusy")
	// bucketKeptMissing: per shadow server and copy id, when an answer
	// to XQUERYKEPT first said the copy missing there (keptcopy.go).
	// Not in allBuckets: made by the first such answer, as refusedhere.
	bucketKeptMissing = []byte("keptmissing")
	// bucketHeldSince: per message held by itself (suspended, poison),
	// when the hold began (heldage.go): its resume does not count the
	// time held in its age. Not in allBuckets: made by the first hold.
	bucketHeldSince = []byte("heldsince")
	// bucketReceived: per message whose age's clock a release from an
	// operator's hold moved, its receipt as it was (received.go). Not
	// in allBuckets: made by the first such release.
	bucketReceived = []byte("received")

	allBuckets = [][]byte{bucketMeta, bucketMessages, bucketBodies, bucketSchedule, bucketActive, bucketQueues, bucketSuspended,
		bucketDiscards, bucketEarly, bucketDelivered, bucketDelivAt, bucketDumpster, bucketDumpBody, bucketDumpStats, bucketRequests, bucketRequestExt, bucketOrgIDs, bucketSubmitKey, bucketRcptCache, bucketRcptAge,
		bucketPeers, bucketPeerDBs, bucketTaken, bucketTLSPolicy, bucketTLSRPT, bucketSpooled, bucketSpoolFiles, bucketRedeliver, bucketHolders, bucketSingle, bucketHolderMarks, bucketPrimaryMarks, bucketTakenBy, bucketPartial, bucketHandBack, bucketDamaged,
		bucketDropped, bucketFolded, bucketBodySums, bucketPushing, bucketTakeoverFailures, bucketFinished, bucketFinishedAt, bucketCarried, bucketPeerDBOrder, bucketTakenDone, bucketShadowIDs, bucketTakenDoneWait, bucketTakenHanded, bucketHolderStated}

	keyDBID              = []byte("db_id")
	keySchemaVersion     = []byte("schema_version")
	keyCreated           = []byte("created")
	keyBackupOf          = []byte("backup_of")
	keyRestoreID         = []byte("restore_id")     // the restore that wrote this copy, until its first start (restorespool.go: markRestoreIn)
	keyRestoreStaged     = []byte("restore_staged") // beside restore_id: "1" when that restore staged a spool directory, "0" when not (restorespool.go: restoreStaged)
	keyRestoreGone       = []byte("restore_gone")   // ids (8 bytes each) the restore found finished in the database it replaced: suspended by the first start (restoregone.go)
	keyRestoreHeld       = []byte("restore_held")   // ids (8 bytes each) the database the restore replaced held suspended by the operator: suspended by the first start (restoregone.go)
	keyRestoreQueues     = []byte("restore_queues") // queue names, NUL-separated, the database the restore replaced held suspended: suspended by the first start (restoregone.go)
	keyRateCounters      = []byte("rate_counters")
	keyRcptCount         = []byte("rcpt_count")          // entries of rcptcache (rcptcache.go)
	keySingleCount       = []byte("single_count")        // marks of singlecopy naming no held holder (holders.go: SingleCopyCount)
	keyPeerWaitRun       = []byte("peerwait_run")        // the run whose slot file Recover trusts (peerwait.go)
	keyRestoredUpTo      = []byte("restored_upto")       // the last message id a restore brought back (heldquery.go)
	keyRestoredFrom      = []byte("restored_from")       // the database id the backup restored here was taken of (takenover.go)
	keyRestoredHanded    = []byte("restored_handed")     // the last message id the backup restored here held, kept (restoredhanded.go)
	keyRestoredAnswered  = []byte("restored_answered")   // the transport servers that answered the restored database's question (restoredhanded.go)
	keyIDHigh            = []byte("id_high")             // the highest message id ever stored (Tx.PutNew, Store.NewID)
	keyIDReserved        = []byte("id_reserved")         // no id handed out is above it (idreserve.go)
	keyRedirectNamesDone = []byte("redirect_names_done") // the held records' redirect names were rewritten (redirectname.go)
)

// The buckets of spooled bodies (spoolref.go).
var (
	bucketSpooled    = []byte("spooled")
	bucketSpoolFiles = []byte("spoolfiles")
	// bucketBodySums: the checksum of each body's bytes stored in the
	// database (bodysum.go).
	bucketBodySums = []byte("bodysums")
)

// bucketBackupSums is only in a backup (SaveBackup; backupsums.go): the
// SHA-256 of every bucket's content, and of every message record and
// body, taken when the backup was written, so that a restore finds a
// byte that changed since. Not in allBuckets: the Open of a restored
// file deletes it.
//
//	backupsums "#version"            → 1 byte
//	           'b' ‖ bucket          → SHA-256 of the bucket's keys and values
//	           'v' ‖ bucket ‖ 0x00 ‖ key → SHA-256 of the value (messages,
//	                                   bodies, dumpster, dumpbodies,
//	                                   backupspool)
//	           "#self"               → SHA-256 of every other entry
var bucketBackupSums = []byte("backupsums")

// bucketBackupSpool is only in a backup (spoolbackup.go): the spooled
// bodies, past their head (which stays in the body bucket), in pieces of
// at most backupChunk bytes, each the one value of a bucket of its own.
// Restore writes each body into a spool file again and deletes the
// bucket (restorespool.go). Not in allBuckets.
//
//	backupspool spooled key ‖ piece (4, BE) → bucket: 0x00 → the piece's bytes
var bucketBackupSpool = []byte("backupspool")

// bucketBulkTally: the audit tally of each operator command acting on
// many messages while it runs, written in its commits (bulktally.go);
// made by the first such commit, not at Open.
//
//	bulktally command key → JSON BulkTally
var bucketBulkTally = []byte("bulktally")

// bucketDSNReported: per failure DSN made while the message it reports
// on kept other recipients pending, the copies elsewhere whose
// recipients it reports, owed their partial discard once the DSN has
// left (reportedcopy.go); made by the first commit that writes one, not
// at Open (a database without it has none owed).
//
//	dsnreported DSN id (8, BE) → original id (8, BE) ‖ org id ‖ 0x00 ‖ { server ‖ 0x00 ‖ copy id ‖ 0x00 ‖ address ‖ 0x00 }…
var bucketDSNReported = []byte("dsnreported")

// bucketDSNReportedBy: the index of dsnreported by original, kept in the
// transactions that write and remove its entries (reportedcopy.go), so
// that the end of a message finds its early failure DSNs by one seek
// (earlyDSNCarries), not by a walk over every DSN owed a partial
// discard; made with the first entry, and checked against dsnreported
// by every Open (repairReportedIndex: an older release writes entries
// without it).
//
//	dsnreportedby original id (8, BE) ‖ DSN id (8, BE) → empty
var bucketDSNReportedBy = []byte("dsnreportedby")

// schemaVersion 2 keyed the delivered records by mailbox database;
// version 3 keys them on the organisation message id instead of the
// Message-ID, gives every record an org id and indexes it (orgids). A
// version 1 or 2 file is upgraded at open (Store.upgrade): its delivered
// records are dropped (they only suppress duplicates, and name the wrong
// identity), each message and dumpster record without an org id gets a
// fresh one, and the orgids index is built. Version 4 may store a body
// as the one value of a bucket of its own under its key in bodies or
// dumpbodies (bodyalone.go), which a release of version 3 would not
// find; a version-3 file is upgraded by writing the number alone, and
// CompactTo writes a version-3 copy back for a rollback (lifecycle.go).
// Version 5 writes every message record with a checksum (checksum.go),
// which a release of version 4 would take for a record that does not
// decode; a version-4 file is upgraded by writing the number alone (its
// records are read unchecked until written again), and CompactTo writes
// a version-4 (or 3) copy without them for a rollback.
const schemaVersion = 5

// scheduleKey orders by due time, then by id.
func scheduleKey(due time.Time, id ID) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(nanos(due)))
	binary.BigEndian.PutUint64(k[8:], uint64(id))
	return k
}

func parseScheduleKey(k []byte) (time.Time, ID, bool) {
	if len(k) != 16 {
		return time.Time{}, 0, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k))), ID(binary.BigEndian.Uint64(k[8:])), true
}

// Queue names of messages that are not waiting for a next hop.
const (
	// QueueSubmission holds recipients not yet attempted.
	QueueSubmission = "submission"
	// QueuePoison holds poison messages.
	QueuePoison = "poison"
	// QueueQuarantine holds quarantined messages (quarantine.go).
	QueueQuarantine = "quarantine"
)

func queueKey(queue string, id ID) []byte {
	k := make([]byte, 0, len(queue)+9)
	k = append(k, queue...)
	k = append(k, 0)
	return append(k, id.Key()...)
}

func parseQueueKey(k []byte) (string, ID, bool) {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[:len(k)-9]), ID(beUint64(k[len(k)-8:])), true
}

// QueuesOf lists the distinct queues a message is in: poison for a
// poison message, quarantine for a quarantined one, otherwise the queue of each pending recipient
// (submission when it has not been attempted yet) and the shadow queue
// (shadow:PRIMARY) of each shadowed one.
func QueuesOf(m *Message) []string {
	if m.State == Poison {
		return []string{QueuePoison}
	}
	if m.State == Quarantined {
		return []string{QueueQuarantine}
	}
	if m.State == Damaged {
		return []string{QueueDamaged}
	}
	var out []string
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Status != Shadowed && r.Status.Done() {
			continue
		}
		q := waitsIn(r) // admin.go: the one rule of which queue a recipient waits in
		dup := false
		for _, o := range out {
			dup = dup || o == q
		}
		if !dup {
			out = append(out, q)
		}
	}
	return out
}

func orgKey(orgID string, id ID) []byte {
	k := make([]byte, 0, len(orgID)+9)
	k = append(k, orgID...)
	k = append(k, 0)
	return append(k, id.Key()...)
}
