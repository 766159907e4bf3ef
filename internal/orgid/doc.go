// Package orgid is the organisation message id (SPEC SR-14): the identity
// of one transport message across every umbra server of the organisation.
//
// The first umbra server that accepts a message gives it a fresh id: 128
// random bits, written as 32 lower-case hex digits. Random rather than
// composed of server id, database id and queue id: it needs no
// coordination between servers, stays unique when a server comes back
// with a new database or its clock steps back, has a fixed size, and
// tells nothing about the organisation's servers when the message leaves
// it. The id travels in the header Header, which umbra writes in front of
// every copy it sends inside the organisation (relay, shadow copy,
// takeover, dumpster resubmission, LMTP, Maildir) from the queue
// record's OrgID: the record is the one source of truth, and the stored
// body never holds the header. A copy leaving the organisation (a send
// connector's next hop) carries no umbra header: Strip removes them.
//
// The header firewall: every header whose name starts with Prefix is
// umbra's own and trusted. On receipt Strip removes all of them; the
// receiving code keeps the org id it found only when the sender is an
// authenticated transport server of the organisation, and stamps a new
// id otherwise, so a header from outside can never name another message.
//
// The origin (OriginHeader, "X-Umbra-Origin: internal") travels the same
// way: queue.Message.Internal, decided by the first umbra server (the
// message originated inside the organisation, so it is DKIM-signed when
// it leaves), written by delivery from the record (PrependRecord) next
// to the id, stripped with it, and believed (Internal) only from an
// authenticated transport server of the organisation.
//
// The organisation's first arrival (ArrivedHeader) and whether the
// "delayed" DSN went (DelayNotifiedHeader) travel the same way, from the
// record (Record, PrependRecord), and are read (Carried) only with a
// kept id: expiry and the delay notice count once across the
// organisation's servers.
//
// So does RepeatHeader (CarriedRepeat): the copy may repeat a mailbox
// write whose commit another server lost — a copy taken over, handed on
// by the server that took it over — so a hub that finds it in a shared
// mailbox store keeps its dumpster copy (package queue, MayRepeat).
//
// So does ReceivedHeader (CarriedReceived): the organisation's first
// receipt, where a release from a hold moved the age clock
// ArrivedHeader carries; the next server keeps it as its record's
// receipt (package queue, received.go), and its clock from
// ArrivedHeader.
//
// Parse, Strip and Valid never panic on any input (fuzzed).
package orgid
