package queue

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"umbra/internal/jsonsafe"
	"umbra/internal/orgid"
)

// ID names a message in the transport database. IDs grow with time, so the
// big-endian key order of the messages bucket is arrival order.
type ID uint64

func (id ID) String() string {
	// Sixteen upper-case hex digits, as fmt's %016X, without fmt: the id
	// is formatted for every log line and tracking event.
	const digits = "0123456789ABCDEF"
	var b [16]byte
	for i, v := 15, uint64(id); i >= 0; i, v = i-1, v>>4 {
		b[i] = digits[v&0xF]
	}
	return string(b[:])
}

// Key is the 8-byte big-endian bucket key of id.
func (id ID) Key() []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return b[:]
}

// Age is how long before now id was handed out, read from its timestamp:
// 0, never negative, for an id ahead of now (ids run ahead of the clock
// after quick restarts or a step back, idreserve.go).
func (id ID) Age(now time.Time) time.Duration {
	return max(0, now.Sub(time.UnixMicro(int64(id))))
}

// ParseID reads the 16-hex-digit form String writes.
func ParseID(s string) (ID, error) {
	// The id as given, by the one rule for bytes from outside
	// (QuoteShown: the admin API passes a refusal's text on as it is),
	// an error whose type says so (jsonsafe.TextError): escaped once.
	if len(s) != 16 {
		return 0, jsonsafe.Textf("message id %s: want 16 hex digits", QuoteShown(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return 0, jsonsafe.Textf("message id %s: want 16 hex digits", QuoteShown(s))
	}
	return ID(binary.BigEndian.Uint64(b)), nil
}

// State is where a message stands in the queue.
type State uint8

const (
	// Ready: waiting in the time index for its next attempt.
	Ready State = iota + 1
	// Active: claimed by the scheduler, in delivery. A message found
	// Active at start-up was in flight during a crash.
	Active
	// Suspended: held by the operator; not in the time index.
	Suspended
	// Poison: in flight during PoisonThreshold crashes that count (not
	// those while it only waited on a peer: peerwait.go), or its delivery
	// panicked; held until the operator acts.
	Poison
	// Shadow: nothing left to deliver, but copies are kept for the
	// primaries that took recipients in shadow sessions, until they send
	// the discard notification (or fail and are taken over).
	Shadow
	// Quarantined: an edge check kept the message back (Message.Quarantine
	// says why); stored durably, never scheduled, until an operator
	// releases or deletes it or it expires (quarantine.go).
	Quarantined
	// Damaged: never stored in a record. A record that does not decode
	// is set aside (damaged.go); the queue index lists it in the queue
	// damaged with this state, and listings show it so.
	Damaged
)

func (s State) String() string {
	switch s {
	case Ready:
		return "ready"
	case Active:
		return "active"
	case Suspended:
		return "suspended"
	case Poison:
		return "poison"
	case Shadow:
		return "shadow"
	case Quarantined:
		return "quarantined"
	case Damaged:
		return "damaged"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// RcptStatus is one recipient's delivery state.
type RcptStatus uint8

const (
	Pending   RcptStatus = iota // still to be delivered
	Delivered                   // final delivery to a mailbox
	Relayed                     // accepted by a next hop that took responsibility
	Failed                      // permanently failed; a DSN was generated (or suppressed)
	Shadowed                    // accepted by a primary in a shadow session; copy kept until it discards
)

func (s RcptStatus) String() string {
	return [...]string{"pending", "delivered", "relayed", "failed", "shadowed"}[s]
}

// Done reports whether the recipient needs no more delivery attempts.
func (s RcptStatus) Done() bool { return s != Pending }

// Notify is the RFC 3461 NOTIFY set of a recipient; zero means "not given".
type Notify uint8

const (
	NotifyNever Notify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

// Wants reports whether a DSN of the given kind goes to the sender: when
// NOTIFY was not given, failures and delays are reported (RFC 3461 §4.1).
func (n Notify) Wants(kind Notify) bool {
	if n == 0 {
		return kind == NotifyFailure || kind == NotifyDelay
	}
	return n&NotifyNever == 0 && n&kind != 0
}

// Recipient is one envelope recipient with its own delivery state.
type Recipient struct {
	Addr   string
	ORcpt  string // RFC 3461 ORCPT, "rfc822;addr", if given
	Notify Notify
	Status RcptStatus
	// Queue is the delivery queue the recipient waits in (see QueueOf);
	// NextHop the host of the latest attempt; LastReply that host's reply
	// (or umbra's own diagnostic), never message content.
	Queue     string
	NextHop   string
	LastReply string
	// Redirect is host[:port] an operator redirected the recipient to;
	// it replaces the normal route.
	Redirect string
	// Primary, PrimaryAddr and ShadowID describe a Shadowed recipient:
	// the server that took it, where to reach it for heartbeats, and the
	// id it will name in its discard notification.
	Primary     string
	PrimaryAddr string
	ShadowID    string
	// PrimaryVia is the send connector the copy went through ("" for a
	// relay inside the organisation): heartbeats log in the same way.
	PrimaryVia string
	// HopReply and HopHost are the last reply a next hop gave the
	// recipient and that hop, kept apart while an operator's hold — its
	// queue suspended (HeldReply) — is LastReply: the DSNs, the
	// expiry and the views quote the hop's reply and mention the hold
	// beside it (heldover.go). Empty when no hop answered before the
	// hold, and whenever LastReply is no hold. Stored from record
	// version 4 on (recordVersionHopReply).
	HopReply string
	HopHost  string
}

// Message is one queued message: envelope, state, per-recipient progress.
// The body is stored apart, under the same id.
type Message struct {
	ID      ID
	State   State
	From    string // reverse path; "" is the null sender
	Arrived time.Time
	Size    int64

	// Where it came from, for Received headers, DSNs and the operator.
	Connector string
	ClientIP  string
	Helo      string

	MessageID string // the Message-ID header, for tracking ("" if none)
	// OrgID is the organisation message id (package orgid, SR-14): the
	// identity of this transport message on every server of the
	// organisation. Duplicate suppression, Maildir names and tracking
	// key on it; delivery writes it in front of every copy it sends.
	OrgID string
	// ShadowServer and ShadowID: the server that keeps a shadow copy of
	// this message and its id there (XSHADOW=), for discard notifications.
	ShadowServer string
	ShadowID     string
	EnvID        string // RFC 3461 ENVID
	RetFull      bool   // RFC 3461 RET=FULL
	RetHdrs      bool   // RFC 3461 RET=HDRS (neither: RET not given, the next hop chooses)
	UTF8         bool   // SMTPUTF8 given
	EightBit     bool   // BODY=8BITMIME given
	// RequireTLS: MAIL FROM carried REQUIRETLS (RFC 8689): every hop
	// leaving the organisation must use verified TLS, else a DSN.
	RequireTLS bool
	// Quarantine, when not "", is why an edge check (internal/smtp
	// filter.go) kept the message in the quarantine: it is stored like
	// any message but not delivered until an operator releases it.
	Quarantine string
	// Internal: the message originated inside the organisation, so
	// umbra DKIM-signs it when it leaves (package signing): received from
	// an authenticated client, from a connector marked dkim_sign, by
	// pickup, or made by umbra (a DSN) — or from a transport server of
	// the organisation that said so (orgid.OriginHeader). The first umbra
	// server that receives the message decides; the flag travels in the
	// header delivery writes from the record, like OrgID.
	Internal bool

	// OrgEarlier is how much earlier than Arrived the organisation
	// first received the message, as the umbra server it came from said
	// (orgid.ArrivedHeader; whole seconds, bounded at receipt:
	// settleArrival). Expiry, the delay notice and a DSN's Arrival-Date
	// count from OrgArrived (rt21d M3). Stored in the flags' bits from
	// orgEarlierShift up, which an older release ignores.
	OrgEarlier time.Duration
	// CarriedArrival is not stored: the organisation's arrival a
	// transport server of it named (orgid.Carried), which the receiving
	// session sets and submit turns into OrgEarlier.
	CarriedArrival time.Time
	// CarriedReceived is not stored: the organisation's first receipt a
	// transport server of it named apart from the age clock
	// (orgid.ReceivedHeader), which the receiving session sets and
	// settleArrival keeps as the receipt (received.go).
	CarriedReceived time.Time
	// Received and ReceivedEarlier are not in the record: the receipt
	// (Arrived, OrgEarlier) as it was before a release from an
	// operator's hold moved the age's clock, kept in bucket received
	// (received.go); zero while no release moved it. Read it through
	// ArrivedHere and OrgReceived.
	Received        time.Time
	ReceivedEarlier time.Duration

	Attempts    int
	NextAttempt time.Time
	CrashCount  int
	// DelayNotified: the "delayed" DSN went — from this server, or from
	// the umbra server the message came from (orgid.DelayNotifiedHeader:
	// one notice across the organisation, rt21d M2).
	DelayNotified bool
	// ManualRetry marks a message an operator made due (queue retry,
	// redirect): its next attempt uses no step of the retry schedule.
	ManualRetry bool
	LastError   string

	Rcpts []Recipient

	// HolderMark is not stored: the rollback mark for ShadowServer that
	// the commit which stored this record raised (PutNew; marks.go),
	// presented with the copy pushed on receipt after it.
	HolderMark uint64
	// NoCopy is not stored: the message wanted a shadow copy on receipt
	// and no shadow server took a session before its commit (SR-17:
	// accepted held by this server only). The commit that stores it
	// marks it so, in the same transaction (holders.go: shown, counted,
	// and copied again while a shadow server answers), as a copy whose
	// push broke after the commit is. A quarantined message is not marked
	// (the quarantine holds it); its commit stores CopyOnRelease instead.
	NoCopy bool
	// EntersAlone is not stored: the message enters the queue by no
	// receipt that could copy it (a pickup file, a report this server
	// writes). Where this server makes shadow copies its commit marks it
	// held by this server only, as NoCopy does (enteredsingle.go).
	EntersAlone bool
	// PushOnReceipt is not stored: ShadowServer is the server the copy
	// on receipt is pushed to after the commit that stores the record.
	// That commit notes the push as in flight (bucket receiptpush,
	// pushcrash.go) until its outcome is known, so that a restart after
	// a crash that cut it short marks the message held by this server
	// only instead of naming a holder with no proof of the copy.
	PushOnReceipt bool
	// CopyOnRelease is stored (flag bit 256): a message quarantined on
	// receipt that wanted a shadow copy (NoCopy) and got none, or one an
	// operator's hold found marked held by this server only (hold.go). The commit
	// that releases it marks it held by this server only and clears it
	// (markReleasedSingle), so the views name it and the holders' pass
	// makes its copy; older releases ignore the bit.
	CopyOnRelease bool
	// BodySummed is stored (flag bit 512): the message's body was stored
	// with its checksum in bodysums (PutNew, in the commit that stores
	// the record; bodysum.go). A body whose entry is then missing is not
	// an older release's unchecked one: its checksum is missing, and it
	// is read as unreadable. Older releases ignore the bit, and drop it
	// when they write the record again (their bodies are unchecked).
	BodySummed bool
	// MayRepeat is stored (flag bit 1024): the message came from a
	// transport server of the organisation that said its copy may
	// repeat a mailbox write another server made and lost the commit
	// of (orgid.RepeatHeader): a copy that server took over from a
	// primary, or one handed on by a server that got it so. Its
	// delivery is then, for a shared mailbox store, what the takeover's
	// own would be: a copy found in the mailbox is kept in the dumpster
	// with its duplicate record (Manager.finish), and the mailbox is
	// looked through by name before the write (package delivery). It is
	// carried on (Carried) with every copy relayed from here; older
	// releases ignore the bit.
	MayRepeat bool
	// Released is stored (flag bit 2048): the message was released from
	// quarantine (ReleaseQuarantined sets it in the commit that releases
	// it). A later release of it — after a restart or kill -9 too, while
	// it waits for delivery or is in it — answers ErrAlreadyReleased
	// from the record. Older releases ignore the bit.
	Released bool
	// Grown is stored (flag bit 4096 says it is known, GrownKnown; the
	// bytes in the flags' bits from grownShift up): how many bytes the
	// receiving session's own work added to the message its sender sent,
	// apart from its trace field — the empty line it puts after a header
	// section that has none (and the line break after a last header line
	// sent without one), a CR before each bare LF (bare_newlines:
	// normalize), its Authentication-Results field, a check's edits —,
	// at most maxGrown (more is counted as the sender's). Size limits
	// hold the message without them (package delivery, limitSize), as
	// its sender sent it. Older releases ignore the bits.
	Grown      int64
	GrownKnown bool
	// DamagedCopyOf is not stored in the record: on a damaged record set
	// aside here (state Damaged) that was a shadow copy, the primary
	// whose message it was a copy of (damaged.go), "" otherwise.
	DamagedCopyOf string
	// ReportOn and ReportOnMessageID are not stored: on a DSN this
	// server has just made, the queue id and Message-ID of the message it
	// reports on, for its "dsn" tracking event (dsnEvent), so that a
	// search for the original finds its DSN.
	ReportOn          ID
	ReportOnMessageID string
	// GiveBack is not stored: of a message claimed for an attempt, the
	// transport database id each copy taken over from a primary may go
	// back to it with, by primary and copy id (giveBackKey; the index of
	// taken-over copies, read in the claim's commit: takenindex.go);
	// GiveBackRcpts reads it.
	GiveBack map[string]string
	// TakenUnder is not stored: of a message claimed for an attempt, the
	// transport database id of each primary it holds a copy taken over
	// from that the copy was taken over under, whatever the takeover
	// (takenindex.go; none for an entry of an earlier release): the
	// database that held the original (delivery's originLostIt).
	TakenUnder map[string]string
	// CopyUnder is not stored: of a message claimed for an attempt, the
	// transport database id each copy taken over from a primary was
	// taken over under, by primary and copy id (giveBackKey; none for a
	// copy under no known database): a relay to the primary keeps the
	// copy's id only while it runs that database (RelayShadowID).
	CopyUnder map[string]string
	// Prior and Scan are not stored: of a message claimed for an
	// attempt, whether a mailbox may hold a copy of it written before
	// (Tx.priorOf, read in the claim's commit; PriorNone for a message
	// that goes to delivery from its receipt), and the header scan of a
	// mailbox its redelivery request shares (package mailbox).
	Prior Prior
	Scan  string
}

// Prior is what the store knows of a copy of a message a mailbox may
// hold from before this attempt (Tx.priorOf).
type Prior uint8

const (
	// PriorNone: no attempt of this server began on the message, and it
	// is no copy taken over or redelivered: a mailbox write needs no
	// search for an earlier copy of this server's.
	PriorNone Prior = iota
	// PriorAttempt: an attempt of this server (or the primary of a copy
	// taken over) may have written it: look for it by its name.
	PriorAttempt
	// PriorRedelivery: a dumpster redelivery, a repeat of an attempt
	// whose results were lost, a message of a restored backup — a copy
	// may be in the mailbox under a name a reader gave it: look by its
	// name and by its org id in the header of a file a reader renamed
	// (one scan of a mailbox per Message.Scan).
	PriorRedelivery
)

// OwnDSN reports whether m is a DSN this server made (results.go,
// admin.go), not a message it received. A failure DSN may carry the
// discard of the copy of the message it reports on (doc.go, "DSNs and
// shadow copies": its ShadowServer and ShadowID are that copy's, not a
// copy of the DSN, which would be named by the DSN's own org id).
func (m *Message) OwnDSN() bool { return m.Internal && m.Connector == "dsn" && m.ClientIP == "" }

// carriesOthersCopy reports whether m names, as its shadow copy, the
// copy of another message: a failure DSN carrying the discard of the
// copy of the message it reports on (OwnDSN).
func carriesOthersCopy(m *Message) bool {
	return m.OwnDSN() && m.ShadowID != "" && m.ShadowID != m.OrgID
}

// Pending returns the indexes of the recipients still to be delivered.
func (m *Message) Pending() []int {
	var out []int
	for i, r := range m.Rcpts {
		if !r.Status.Done() {
			out = append(out, i)
		}
	}
	return out
}

// recordVersion 2 added OrgID after MessageID; version 1 records are
// still read (with no OrgID), and the store's upgrade gives each one.
// Version 3 appends Quarantine after the recipients; it is written only
// for a record with a quarantine reason, so every other record stays
// readable by a release that knows version 2 (a downgrade refuses only
// quarantined mail: README, Quarantine).
// Version 4 appends, after the recipients, Quarantine (empty when none)
// and each recipient's HopReply and HopHost (heldover.go); it is written
// only for a record with a recipient held with a next hop's reply kept
// apart, so every other record stays readable by an older release (a
// downgrade refuses only such held mail; umbra db compact --schema
// rewrites it without them, the hold's note alone, as older releases
// kept it).
const recordVersion = 2

const recordVersionQuarantine = 3

const recordVersionHopReply = 4

// knownRecordVersion reports whether v (without the checksum flag) is a
// record version this release reads.
func knownRecordVersion(v byte) bool {
	return v == 1 || v == recordVersion || v == recordVersionQuarantine || v == recordVersionHopReply
}

// keepsHopReply reports whether m has a recipient held with the next
// hop's reply kept apart (Recipient.HopReply): its record is written as
// version 4.
func (m *Message) keepsHopReply() bool {
	for i := range m.Rcpts {
		if _, _, _, ok := heldHopReply(m.Rcpts[i]); ok {
			return true
		}
	}
	return false
}

// orgEarlierShift is where OrgEarlier's seconds start in a record's
// flags: the bits below are flags, those from it up an older release
// ignores as it ignores any flag it does not know.
const (
	orgEarlierShift      = 32
	maxOrgEarlierSeconds = 1<<(64-orgEarlierShift) - 1
)

// grownKnownBit says a record holds Grown, in the bits from grownShift
// up to orgEarlierShift (an older release ignores them all); a record
// without it was written by a release that did not count it.
const (
	grownKnownBit = 1 << 12
	grownShift    = 13
	// MaxGrown is the most Grown a record holds: 512 KiB less a byte.
	MaxGrown = 1<<(orgEarlierShift-grownShift) - 1
)

// OrgArrived is when the organisation first received m: Arrived, or
// earlier by what the umbra server it came from said (OrgEarlier).
func (m *Message) OrgArrived() time.Time { return m.Arrived.Add(-m.OrgEarlier) }

// releasedFromHold restarts m's age at the quarantine's release: m is
// then as if just received — Arrived is now, no earlier arrival of the
// organisation is carried (OrgEarlier) — so its expiry and delay notice
// count from the release, and one that sat quarantined past
// message_expiration is delivered, not failed as expired in the instant
// it was released (rt44 edge F1). The quarantine was a decision on the
// message, not a delay of its delivery, and a message is released from
// it once (Released): no loop of releases keeps it young. A delay
// notice that went stays gone (DelayNotified): its sender was told once
// (poison45 item 3). The receipt stays (received.go): message show,
// tracking, a later DSN's Arrival-Date, the receipt carried to the next
// umbra server (orgid.ReceivedHeader) and the dumpster's copy name it;
// the age clock, which the next server and a holder count from too,
// names the release. An operator's hold that can be repeated —
// `message resume` of a suspended or poison message — does not restart
// the age: resumedFromHold. A suspended queue is no hold of the
// message's: its mail keeps its age (a destination's maintenance), and
// gets its delay notice and expiry while the queue is suspended.
func (m *Message) releasedFromHold(now time.Time) {
	m.keepReceived() // the receipt stays what it was (received.go)
	m.Arrived, m.OrgEarlier = now, 0
}

// resumedFromHold sets m's age at `message resume` of a suspended or
// poison message held since heldAt (known: the commit that held it
// noted when, heldage.go): the hold does not age it — the time held is
// not counted —, the time it spent queued before the hold is. Arrived
// is the resume (as message show and tracking name it; less the part
// of a second of the age that OrgEarlier's whole seconds cannot hold)
// and OrgEarlier
// carries the age the message had when it was held, so its expiry and
// delay notice count on from where the hold stopped them: one held past
// message_expiration is not failed as expired in the instant it was
// resumed (rt44 edge F1), and a loop of suspends and resumes no longer
// restarts its age each time — it made a message immortal (poison45
// item 3). Its delay notice, if it went, stays gone: one notice per
// message, the sender was told once. Not known (a hold an older release
// made, which noted no time): the hold is counted, the safe side of a
// loop. A message whose age at the hold had reached message_expiration
// (expiration) — held past it before its claim failed it, or a copy
// taken over untried — keeps a tenth of it, as a carried arrival does
// (settleArrival): the resume's attempt is made, and the expiry follows
// if it does not deliver.
func (m *Message) resumedFromHold(heldAt time.Time, known bool, now time.Time, expiration time.Duration) {
	if !known || heldAt.After(now) {
		heldAt = now
	}
	age := max(heldAt.Sub(m.OrgArrived()), 0)
	if m.Arrived.IsZero() {
		age = 0 // no arrival recorded (a record written by hand): none to carry
	}
	if expiration > 0 && age >= expiration {
		age = expiration / 10 * 9
	}
	// OrgEarlier holds whole seconds: the part of a second beyond them
	// goes into Arrived, less than a second before the resume. Cut off,
	// it was lost at each resume, and a loop of suspends and resumes
	// less than a second apart never aged the message at all.
	age = min(age, maxOrgEarlierSeconds*time.Second)
	whole := age.Truncate(time.Second)
	m.keepReceived() // the receipt stays what it was (received.go)
	m.Arrived, m.OrgEarlier = now.Add(whole-age), whole
}

// settleArrival sets Arrived to now when unset and turns a carried
// arrival (CarriedArrival) into OrgEarlier, bounded for clock skew
// between servers: one later than Arrived (a clock ahead of this one)
// counts as Arrived, and one earlier counts back at most nine tenths of
// expiration (message_expiration), so a clock behind or an absurd time
// still leaves the message a tenth of it here and never expires it at
// once; a message cannot outlive the setting by more than that tenth
// per server. Without a carried arrival OrgEarlier stays as it is.
func (m *Message) settleArrival(now time.Time, expiration time.Duration) {
	if m.Arrived.IsZero() {
		m.Arrived = now
	}
	if m.CarriedArrival.IsZero() {
		return
	}
	early := m.Arrived.Sub(m.CarriedArrival)
	m.OrgEarlier = min(max(early, 0), expiration/10*9).Truncate(time.Second)
	// A first receipt named apart, earlier than the clock: kept as the
	// receipt a release keeps (received.go), so that this server's views
	// and DSNs name it. It moves no clock: it is not bounded as the
	// clock is.
	if !m.CarriedReceived.IsZero() && m.CarriedReceived.Before(m.CarriedArrival) && m.Received.IsZero() {
		m.Received, m.ReceivedEarlier = m.Arrived, max(m.Arrived.Sub(m.CarriedReceived), 0)
	}
}

// Carried is what delivery writes from m in front of a copy it sends
// inside the organisation (orgid.PrependRecord).
//
// Repeat: the copy may repeat a mailbox write whose commit another
// server lost — m is marked so (MayRepeat), or has a recipient taken
// over from a primary (takenOverRcpt), which may have written the copy
// into a shared store and died before its commit. The hub this copy is
// handed to keeps what it finds in the mailbox, as the taken-over
// copy's own delivery here would (rt37: handed on, it was in no
// dumpster at all).
func (m *Message) Carried() orgid.Record {
	repeat := m.MayRepeat
	for i := 0; i < len(m.Rcpts) && !repeat; i++ {
		repeat = takenOverRcpt(&m.Rcpts[i])
	}
	// The age clock (OrgArrived): the next server's expiry and delay
	// notice, and a holder's takeover, count from it as here. The first
	// receipt travels apart (orgid.ReceivedHeader) when a release moved
	// the clock (received.go): the next server's message show and its
	// DSN's Arrival-Date name it.
	return orgid.Record{ID: m.OrgID, Internal: m.Internal, Arrived: m.OrgArrived(), DelayNotified: m.DelayNotified, Repeat: repeat, Grown: m.Grown,
		Received: m.OrgReceived()}
}

// encode writes m in umbra's record format: a version byte, then every
// field in order, integers as varints and strings length-prefixed.
func (m *Message) encode() []byte {
	e := encoder{buf: make([]byte, 0, 128+64*len(m.Rcpts))}
	version := byte(recordVersion)
	if m.Quarantine != "" {
		version = recordVersionQuarantine
	}
	if m.keepsHopReply() {
		version = recordVersionHopReply
	}
	e.buf = append(e.buf, version)
	e.uint(uint64(m.ID))
	e.uint(uint64(m.State))
	e.str(m.From)
	e.time(m.Arrived)
	e.uint(uint64(m.Size))
	e.str(m.Connector)
	e.str(m.ClientIP)
	e.str(m.Helo)
	e.str(m.EnvID)
	e.str(m.MessageID)
	e.str(m.OrgID)
	e.str(m.ShadowServer)
	e.str(m.ShadowID)
	var flags uint64
	for i, b := range []bool{m.RetFull, m.UTF8, m.EightBit, m.DelayNotified, m.ManualRetry, m.RequireTLS, m.Internal, m.RetHdrs, m.CopyOnRelease, m.BodySummed, m.MayRepeat, m.Released} {
		if b {
			flags |= 1 << i
		}
	}
	if sec := uint64(m.OrgEarlier / time.Second); m.OrgEarlier > 0 {
		flags |= min(sec, maxOrgEarlierSeconds) << orgEarlierShift
	}
	if m.GrownKnown {
		flags |= grownKnownBit | uint64(min(max(m.Grown, 0), MaxGrown))<<grownShift
	}
	e.uint(flags)
	e.uint(uint64(m.Attempts))
	e.time(m.NextAttempt)
	e.uint(uint64(m.CrashCount))
	e.str(m.LastError)
	e.uint(uint64(len(m.Rcpts)))
	for _, r := range m.Rcpts {
		e.str(r.Addr)
		e.str(r.ORcpt)
		e.uint(uint64(r.Notify))
		e.uint(uint64(r.Status))
		e.str(r.Queue)
		e.str(r.NextHop)
		e.str(r.LastReply)
		e.str(r.Redirect)
		e.str(r.Primary)
		e.str(r.PrimaryAddr)
		e.str(r.ShadowID)
		e.str(r.PrimaryVia)
	}
	switch version {
	case recordVersionQuarantine:
		e.str(m.Quarantine)
	case recordVersionHopReply:
		e.str(m.Quarantine)
		for _, r := range m.Rcpts {
			if _, _, _, ok := heldHopReply(r); ok {
				e.str(r.HopReply)
				e.str(r.HopHost)
			} else {
				e.str("") // kept only while held: heldover.go
				e.str("")
			}
		}
	}
	return appendRecordSum(e.buf) // checksum.go
}

// errCorrupt marks a record that cannot be decoded.
var errCorrupt = errors.New("corrupt message record")

// decodeMessage reads a record written by encode. It never panics: any
// malformed input gives an error wrapping errCorrupt.
func decodeMessage(b []byte) (*Message, error) {
	b, _, err := checkRecordSum(b) // checksum.go: a record whose checksum fails is not decoded
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || !knownRecordVersion(b[0]) {
		return nil, fmt.Errorf("%w: unknown version", errCorrupt)
	}
	version := b[0]
	d := decoder{buf: b[1:]}
	m := &Message{}
	m.ID = ID(d.uint())
	m.State = State(d.uint())
	m.From = d.str()
	m.Arrived = d.time()
	m.Size = int64(d.uint())
	m.Connector = d.str()
	m.ClientIP = d.str()
	m.Helo = d.str()
	m.EnvID = d.str()
	m.MessageID = d.str()
	if version >= 2 {
		m.OrgID = d.str()
	}
	m.ShadowServer = d.str()
	m.ShadowID = d.str()
	flags := d.uint()
	m.RetFull, m.UTF8, m.EightBit, m.DelayNotified = flags&1 != 0, flags&2 != 0, flags&4 != 0, flags&8 != 0
	m.ManualRetry = flags&16 != 0                                      // unknown to older releases, which ignore the bit
	m.RequireTLS = flags&32 != 0                                       // likewise (RFC 8689)
	m.Internal = flags&64 != 0                                         // likewise: an older release's record is not DKIM-signed
	m.RetHdrs = flags&128 != 0                                         // likewise: an older release passed RET=HDRS on as no RET
	m.CopyOnRelease = flags&256 != 0                                   // likewise: an older release does not mark it at its release
	m.BodySummed = flags&512 != 0                                      // likewise: an older release's body is unchecked
	m.MayRepeat = flags&1024 != 0                                      // likewise: an older release keeps no copy it finds
	m.Released = flags&2048 != 0                                       // likewise: an older release answers "not quarantined"
	m.OrgEarlier = time.Duration(flags>>orgEarlierShift) * time.Second // likewise: an older release counts from its own receipt
	if m.GrownKnown = flags&grownKnownBit != 0; m.GrownKnown {         // likewise: an older release counts umbra's bytes as the sender's
		m.Grown = int64(flags>>grownShift) & MaxGrown
	}
	m.Attempts = int(d.small())
	m.NextAttempt = d.time()
	m.CrashCount = int(d.small())
	m.LastError = d.str()
	n := d.uint()
	if n > uint64(len(d.buf)) { // every recipient takes at least one byte
		return nil, fmt.Errorf("%w: %d recipients in %d bytes", errCorrupt, n, len(d.buf))
	}
	m.Rcpts = make([]Recipient, n)
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		r.Addr = d.str()
		r.ORcpt = d.str()
		r.Notify = Notify(d.small())
		r.Status = RcptStatus(d.small())
		r.Queue = d.str()
		r.NextHop = d.str()
		r.LastReply = d.str()
		r.Redirect = d.str()
		r.Primary = d.str()
		r.PrimaryAddr = d.str()
		r.ShadowID = d.str()
		r.PrimaryVia = d.str()
		if r.Status > Shadowed {
			d.err = fmt.Errorf("recipient status %d", r.Status)
		}
	}
	switch version {
	case recordVersionQuarantine:
		if m.Quarantine = d.str(); d.err == nil && m.Quarantine == "" {
			d.err = errors.New("quarantine record without a reason")
		}
	case recordVersionHopReply:
		m.Quarantine = d.str()
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			r.HopReply, r.HopHost = d.str(), d.str()
			// encode writes a kept reply only beside a hold, and a
			// host only with its reply (heldover.go).
			if d.err == nil && (r.HopReply != "" || r.HopHost != "") && (r.HopReply == "" || heldBy(r.LastReply) == "") {
				d.err = fmt.Errorf("recipient %d: a next hop's reply kept beside no hold", i)
			}
		}
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.buf))
	}
	if d.err == nil && (m.State < Ready || m.State > Quarantined) {
		d.err = fmt.Errorf("state %d", m.State)
	}
	if d.err == nil && (m.State == Quarantined) != (m.Quarantine != "") {
		d.err = fmt.Errorf("state %s with quarantine reason %q", m.State, m.Quarantine)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, d.err)
	}
	return m, nil
}

// retryFields are the fields of a stored record that say whether it
// waits for a retry (DisplayState): its state, whether it was attempted
// or answered (Attempts, LastError) and its next attempt.
type retryFields struct {
	state     State
	attempted bool
	next      time.Time
}

// waitsForRetry is DisplayState's "retry": a Ready message waiting after
// a deferral — an attempt, or a dead destination's answer without a
// connection (no attempt; its reply is the last error).
func (f retryFields) waitsForRetry(now time.Time) bool {
	return f.state == Ready && f.attempted && f.next.After(now)
}

// peekRetryFields reads the retryFields of the stored record b without
// decoding the rest: they come before its recipients, so the cost is one
// checksum pass over the whole record (recipients included: its length
// grows with them) and a few varints, with no decode of the recipients
// and no allocation. A record
// that does not decode there, or whose checksum fails, gives ok false,
// as Tx.Get would fail on it.
func peekRetryFields(b []byte) (f retryFields, ok bool) {
	if recordIsSummed(b) {
		if len(b) < 5 {
			return f, false
		}
		n := len(b) - 4
		if crc32.Checksum(b[:n], castagnoli) != binary.BigEndian.Uint32(b[n:]) {
			return f, false
		}
		b = b[:n]
	}
	if len(b) == 0 {
		return f, false
	}
	version := b[0] &^ recordSummed
	if !knownRecordVersion(version) {
		return f, false
	}
	d := decoder{buf: b[1:]}
	d.uint() // ID
	f.state = State(d.uint())
	d.skip()      // From
	d.time()      // Arrived
	d.uint()      // Size
	for range 5 { // Connector, ClientIP, Helo, EnvID, MessageID
		d.skip()
	}
	if version >= 2 {
		d.skip() // OrgID
	}
	d.skip() // ShadowServer
	d.skip() // ShadowID
	d.uint() // flags
	attempts := d.small()
	f.next = d.time()
	d.small() // CrashCount
	lastError := d.uint()
	if d.err != nil || lastError > uint64(len(d.buf)) {
		return f, false
	}
	f.attempted = attempts > 0 || lastError > 0
	return f, true
}

// skip passes over a string without allocating it.
func (d *decoder) skip() {
	n := d.uint()
	if d.err != nil {
		return
	}
	if n > uint64(len(d.buf)) {
		d.err = fmt.Errorf("string of %d bytes in %d", n, len(d.buf))
		return
	}
	d.buf = d.buf[n:]
}

type encoder struct{ buf []byte }

func (e *encoder) uint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.buf = append(e.buf, s...) }

// time writes t as nanoseconds since 1970 (0: the zero time), saturated
// (nanos): a time before 1970 is written as the zero time, one after
// 2262 as the last it holds, never a wrapped value the decoder refuses
// or reads as another time.
func (e *encoder) time(t time.Time) { e.uint(uint64(nanos(t))) }

// nanos is t in nanoseconds since 1970 as every stored time and time
// key of the transport database holds it: 0 for the zero time and any
// time before 1970 (no record, copy or entry is older), math.MaxInt64
// for a time past 2262-04-11 — t.UnixNano would wrap them (its result
// is undefined outside 1678–2262).
func nanos(t time.Time) int64 {
	switch {
	case !t.After(unixEpoch):
		return 0
	case t.After(lastNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var unixEpoch, lastNano = time.Unix(0, 0), time.Unix(0, math.MaxInt64)

// StoredTime is t as a stored time reads back (nanos): the zero time for
// a time before 1970, the last one a record holds for a time past 2262,
// t otherwise. A caller that stores a time given from outside (a
// redelivery request's window) compares what it stores with this.
func StoredTime(t time.Time) time.Time {
	switch n := nanos(t); n {
	case 0:
		return time.Time{}
	case math.MaxInt64:
		return lastNano
	}
	return t
}

type decoder struct {
	buf []byte
	err error
	// recent are the last short strings decoded: a message's recipients
	// repeat the same queue, next hop, reply and primary, so a string
	// equal to one of them is shared instead of allocated again.
	recent [6]string
	next   int
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// small reads a varint that must fit comfortably in an int.
func (d *decoder) small() uint64 {
	v := d.uint()
	if v > 1<<31 {
		d.err = fmt.Errorf("value %d out of range", v)
		return 0
	}
	return v
}

func (d *decoder) str() string {
	n := d.uint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.buf)) {
		d.err = fmt.Errorf("string of %d bytes in %d", n, len(d.buf))
		return ""
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	if n == 0 {
		return ""
	}
	if n > 128 { // a body-sized or rare field: not worth comparing
		return string(b)
	}
	for _, r := range d.recent {
		if r == string(b) { // compares without allocating
			return r
		}
	}
	s := string(b)
	d.recent[d.next] = s
	d.next = (d.next + 1) % len(d.recent)
	return s
}

func (d *decoder) time() time.Time {
	v := d.uint()
	if v == 0 || d.err != nil {
		return time.Time{}
	}
	if v > 1<<63-1 {
		d.err = errors.New("time out of range")
		return time.Time{}
	}
	return time.Unix(0, int64(v))
}
