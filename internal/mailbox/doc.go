// Package mailbox delivers into a local Maildir store.
//
// One mailbox per address: Path maps (domain, local part), ASCII case
// folded, to <root>/<domain>/<local> by an injective encoding ('/',
// '\', '%', control bytes, DEL, C1 controls, format characters, line
// separators, invalid UTF-8 and a leading '.' as %XX; "" as "%"),
// so no two addresses share a directory and none names a path outside
// the root, "." or "..", or a hidden directory; every other byte stays
// as it is, so an ordinary address's directory is its own name. A domain
// with a non-ASCII byte is written as its lower-case A-label
// (mailaddr.DomainKey: "bücher.example" as "xn--bcher-kva.example"), so
// both forms of an internationalised domain share one directory; an
// ASCII domain keeps its ASCII-folded name. Mail that releases before
// that wrote under a U-label directory is moved into the A-label one by
// MergeLegacyIDN (legacy.go; serve runs it at every start): link then
// unlink, never replacing a name. The writer takes canonical domains only
// (mailaddr.CanonicalDomain): one with a final dot is refused
// (ErrNotCanonical) and no directory is made for it, so "example.test."
// never becomes a second mailbox tree beside "example.test".
//
// Invariant: a message appears in new/ complete or not at all. It is
// written to tmp/, fsync'd, renamed into new/, and new/ is fsync'd before
// Deliver returns nil; only then does the queue count the recipient as
// delivered. A crash in between leaves at most a stray file in tmp/ and a
// redelivery (at-least-once), never a partial message in new/; that
// delivery's next attempt by this server (never a CheckFirst one: it
// follows no write of this server's) removes the stray file (its name
// NAME.HOST.PID.SEQ under another process id), as it removes any file of
// tmp/ untouched for 36 hours (sweepTmp). HOST is the server's name:
// hubs sharing one store (each its own server.name, as the topology
// has them) never remove each other's file in flight, whatever their
// process ids, also where one name begins with the other's
// (TestSharedStoreKeepsAnotherServersTmpFile). Two servers given one
// name (a copied configuration, which the README warns of) can: the
// writer whose file went fails its link and the delivery is retried,
// nothing lost.
//
// Once per copy: the file name comes from (database, organisation message
// id, recipient keyed by mailaddr.AddrKey, so an internationalised
// domain's two forms are one recipient) and holds no host name, and the file enters new/ by
// link(2), which never replaces a name. A retry, a copy resubmitted by a
// shadow takeover, or the same message delivered by another hub into a
// shared store finds the name (in new/, or in cur/ with or without flags,
// of the inbox or of any Maildir++ folder .NAME/ a reader moved it into)
// and writes nothing (ErrAlreadyDelivered: the caller reports a
// suppressed duplicate, not a delivery). A reader that renames the file to another name in
// the moment between another writer's check and its link can still let a
// second copy in (the README lists this window). The check lists the
// mailbox's folders once and reads each folder's cur/ once by its names,
// 256 at a time (inCur), stopping at a match: its memory does not grow
// with the number of messages in the mailbox, its time does (about 1 s
// for 200 000 files). So it runs only where a copy may be there
// (Options.Check, chosen by package delivery from queue Message.Prior):
// the first attempt of a message no attempt of this server began on
// reads no directory (CheckFirst: the name in the inbox's new/, which
// the link refuses anyway, and in its cur/ as NAME:2, or NAME:2,S, a
// stat each); a later attempt, a copy taken over search the whole
// mailbox (CheckNames, Deliver's); a dumpster redelivery, a repeat of an
// attempt whose results were lost and a restored message also by header
// (CheckHeaders, below).
//
// A reader's MOVE or COPY may give the file a name of its own
// ("1796317000.M5P7.mbx,S=400,W=410:2,S"). The name check cannot find
// that copy; CheckHeaders (DeliverWith, for a dumpster redelivery's
// copies, repeats and restored messages: package queue Message.Prior) finds it by the org id umbra
// wrote in its header (OrgHeader, orgid.Header): one scan per mailbox and
// redelivery request (Options.Scan) reads the header section, at most
// scanHeaderBytes (16 KiB), of each file in new/ and cur/ of the inbox
// and its folders whose name is not of Name's form, and keeps the ids
// found (not the names: memory grows with the renamed copies of umbra's
// deliveries only) for the request's other deliveries into the mailbox,
// at most scanKeep (10 min) and for scanEntries (1024) mailboxes. A file
// renamed after the scan is missed by that request (the README lists the
// window). The plain delivery path never reads a header.
package mailbox
