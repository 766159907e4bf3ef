package queue

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/mailaddr"
)

// The store side of final delivery: the duplicate record (SR-11) and the
// transport dumpster (TD-1, TD-2). Retention policy and redelivery
// requests are package dumpster's; these helpers only keep the buckets
// and their running totals consistent within one transaction.

// dbPrefix is the key prefix of one database in the per-database buckets.
func dbPrefix(db string) []byte {
	return append([]byte(db), 0)
}

// deliveredHash keys a final delivery on the organisation message id
// and the recipient (SR-14), under its one normal form
// (mailaddr.AddrKey: both forms of an internationalised domain are one
// recipient).
func deliveredHash(orgID, rcpt string) []byte {
	return deliveredHashOf(orgID, mailaddr.AddrKey(rcpt))
}

func deliveredHashOf(orgID, key string) []byte {
	h := sha256.Sum256([]byte(orgID + "\x00" + key))
	return h[:16]
}

func putTime(t time.Time) []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(nanos(t)))
	return v[:]
}

func getTime(b []byte) time.Time { return time.Unix(0, int64(beUint64(b))) }

// WasDelivered reports whether the message with this organisation
// message id was delivered into rcpt's mailbox in database db before.
func (t *Tx) WasDelivered(db, orgID, rcpt string) bool {
	_, ok := t.DeliveredAt(db, orgID, rcpt)
	return ok
}

// DeliveredAt is when the message with this organisation message id was
// delivered into rcpt's mailbox in database db, as its record says (the
// time of the commit that also kept its dumpster copy); ok false when
// there is no record.
func (t *Tx) DeliveredAt(db, orgID, rcpt string) (at time.Time, ok bool) {
	if orgID == "" {
		return time.Time{}, false
	}
	b := t.tx.Bucket(bucketDelivered)
	v := b.Get(append(dbPrefix(db), deliveredHash(orgID, rcpt)...))
	if v == nil {
		// A record an earlier release wrote (the address lower-cased).
		for _, key := range mailaddr.EarlierKeys(rcpt) {
			if v = b.Get(append(dbPrefix(db), deliveredHashOf(orgID, key)...)); v != nil {
				break
			}
		}
	}
	if v == nil {
		return time.Time{}, false
	}
	if len(v) != 8 {
		return time.Time{}, true // a record, of no time known
	}
	return getTime(v), true
}

// RecordDelivered remembers a final delivery of the message with this
// organisation message id into database db.
func (t *Tx) RecordDelivered(db, orgID, rcpt string, now time.Time) error {
	if orgID == "" {
		return nil
	}
	h := deliveredHash(orgID, rcpt)
	k := append(dbPrefix(db), h...)
	b, idx := t.tx.Bucket(bucketDelivered), t.tx.Bucket(bucketDelivAt)
	if old := b.Get(k); len(old) == 8 {
		if err := idx.Delete(deliveredAtKey(db, getTime(old), h)); err != nil {
			return err
		}
	}
	if err := b.Put(k, putTime(now)); err != nil {
		return err
	}
	return idx.Put(deliveredAtKey(db, now, h), nil)
}

func deliveredAtKey(db string, at time.Time, hash []byte) []byte {
	k := append(dbPrefix(db), putTime(at)...)
	return append(k, hash...)
}

// ClearDelivered forgets up to limit records of database db made in
// [from, to], oldest first, and reports how many and whether more remain.
func (t *Tx) ClearDelivered(db string, from, to time.Time, limit int) (n int, more bool, err error) {
	b, idx := t.tx.Bucket(bucketDelivered), t.tx.Bucket(bucketDelivAt)
	pre := dbPrefix(db)
	var keys [][]byte
	c := idx.Cursor()
	for k, _ := c.Seek(append(bytes.Clone(pre), putTime(from)...)); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
		if len(k) != len(pre)+24 || getTime(k[len(pre):]).After(to) {
			break
		}
		if len(keys) == limit {
			more = true
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := idx.Delete(k); err != nil {
			return 0, false, err
		}
		if err := b.Delete(append(bytes.Clone(pre), k[len(pre)+8:]...)); err != nil {
			return 0, false, err
		}
	}
	return len(keys), more, nil
}

// PruneDelivered forgets up to limit records, over all databases, made
// before cutoff.
func (t *Tx) PruneDelivered(cutoff time.Time, limit int) (int, error) {
	n := 0
	for _, db := range t.prefixes(bucketDelivAt) {
		k, _, err := t.ClearDelivered(db, time.Unix(0, 0), cutoff.Add(-1), limit-n)
		if err != nil {
			return n, err
		}
		if n += k; n >= limit {
			break
		}
	}
	return n, nil
}

// prefixes lists the databases a per-database bucket holds keys of,
// jumping from one database's range to the next.
func (t *Tx) prefixes(bucket []byte) []string {
	var out []string
	c := t.tx.Bucket(bucket).Cursor()
	for k, _ := c.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		out = append(out, string(k[:i]))
		k, _ = c.Seek(append(bytes.Clone(k[:i]), 1))
	}
	return out
}

// DumpsterKey names one dumpster entry.
type DumpsterKey struct {
	Database string
	KeptAt   time.Time
	ID       ID // the message's queue id when it was delivered
}

func (k DumpsterKey) bytes() []byte {
	b := append(dbPrefix(k.Database), putTime(k.KeptAt)...)
	return append(b, k.ID.Key()...)
}

func parseDumpsterKey(k []byte) (DumpsterKey, bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+17 {
		return DumpsterKey{}, false
	}
	return DumpsterKey{Database: string(k[:i]), KeptAt: getTime(k[i+1:]), ID: ID(beUint64(k[i+9:]))}, true
}

// DumpsterStat is the running total of one database's dumpster.
type DumpsterStat struct {
	Messages int64
	Bytes    int64
}

// DumpsterStat returns database db's totals.
func (t *Tx) DumpsterStat(db string) DumpsterStat {
	v := t.tx.Bucket(bucketDumpStats).Get([]byte(db))
	if len(v) != 16 {
		return DumpsterStat{}
	}
	return DumpsterStat{Messages: int64(beUint64(v)), Bytes: int64(beUint64(v[8:]))}
}

// DumpsterStats returns every database's totals.
func (t *Tx) DumpsterStats() map[string]DumpsterStat {
	out := map[string]DumpsterStat{}
	_ = t.tx.Bucket(bucketDumpStats).ForEach(func(k, v []byte) error {
		if len(v) == 16 {
			out[string(k)] = DumpsterStat{Messages: int64(beUint64(v)), Bytes: int64(beUint64(v[8:]))}
		}
		return nil
	})
	return out
}

func (t *Tx) addDumpsterStat(db string, messages, size int64) error {
	st := t.DumpsterStat(db)
	st.Messages += messages
	st.Bytes += size
	b := t.tx.Bucket(bucketDumpStats)
	if st.Messages <= 0 {
		return b.Delete([]byte(db))
	}
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(st.Messages))
	binary.BigEndian.PutUint64(v[8:], uint64(max(st.Bytes, 0)))
	return b.Put([]byte(db), v)
}

// DumpsterPut keeps a copy: m holds the recipients delivered into the
// database, body the message bytes.
func (t *Tx) DumpsterPut(k DumpsterKey, m *Message, body []byte) error {
	kb := k.bytes()
	if t.tx.Bucket(bucketDumpster).Get(kb) != nil {
		return fmt.Errorf("dumpster entry %s/%s exists", k.Database, k.ID)
	}
	if err := t.tx.Bucket(bucketDumpster).Put(kb, m.encode()); err != nil {
		return err
	}
	if err := putBodyValue(t.tx.Bucket(bucketDumpBody), refDumpster, kb, body); err != nil { // bodyalone.go
		return fmt.Errorf("storing the body (%d bytes) of dumpster copy %s/%s: %w", len(body), k.Database, k.ID, err)
	}
	return t.addDumpsterStat(k.Database, 1, int64(len(body)))
}

// DumpsterDelete drops an entry and returns the bytes it held.
func (t *Tx) DumpsterDelete(k DumpsterKey) (int64, error) {
	kb := k.bytes()
	if t.tx.Bucket(bucketDumpster).Get(kb) == nil {
		return 0, nil
	}
	size := t.bodyLen(t.tx.Bucket(bucketDumpBody), refDumpster, kb) // with a spooled part (spoolref.go)
	if err := t.tx.Bucket(bucketDumpster).Delete(kb); err != nil {
		return 0, err
	}
	if err := t.dropRef(refDumpster, kb); err != nil {
		return 0, err
	}
	if err := deleteBodyValue(t.tx.Bucket(bucketDumpBody), refDumpster, kb); err != nil {
		return 0, err
	}
	return size, t.addDumpsterStat(k.Database, -1, -size)
}

// DumpsterEntry is one kept copy as listed; Message is nil when its
// record cannot be decoded (Err says why), so it can still be evicted.
type DumpsterEntry struct {
	Key     DumpsterKey
	Size    int64
	Message *Message
	Err     error
}

// DumpsterScan calls fn for database db's entries kept at or after from,
// oldest first, until fn returns false.
func (t *Tx) DumpsterScan(db string, from time.Time, fn func(e DumpsterEntry) bool) {
	pre := dbPrefix(db)
	bodies := t.tx.Bucket(bucketDumpBody)
	c := t.tx.Bucket(bucketDumpster).Cursor()
	for k, v := c.Seek(append(bytes.Clone(pre), putTime(from)...)); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
		key, ok := parseDumpsterKey(k)
		if !ok {
			continue
		}
		m, err := decodeMessage(v)
		if !fn(DumpsterEntry{Key: key, Size: t.bodyLen(bodies, refDumpster, k), Message: m, Err: err}) {
			return
		}
	}
}

// DumpsterDatabases lists the databases with a dumpster entry.
func (t *Tx) DumpsterDatabases() []string { return t.prefixes(bucketDumpster) }

// DumpsterFind returns the key of database db's copy of the message with
// queue id id kept in [from, to] (a zero to: any time from on), reading
// keys only, in key order (kept-at first): it seeks to from and stops
// past to; ok false when there is none.
func (t *Tx) DumpsterFind(db string, id ID, from, to time.Time) (k DumpsterKey, ok bool) {
	return t.DumpsterFindWithin(db, id, from, to, 0)
}

// DumpsterFindWithin is DumpsterFind reading at most limit keys (0: no
// bound): ok false also when the copy, if there is one, lies past them.
func (t *Tx) DumpsterFindWithin(db string, id ID, from, to time.Time, limit int) (k DumpsterKey, ok bool) {
	pre := dbPrefix(db)
	read := 0
	want := id.Key()
	var end []byte
	if !to.IsZero() {
		end = append(bytes.Clone(pre), putTime(to)...)
	}
	c := t.tx.Bucket(bucketDumpster).Cursor()
	for kb, _ := c.Seek(append(bytes.Clone(pre), putTime(from)...)); kb != nil && bytes.HasPrefix(kb, pre); kb, _ = c.Next() {
		if end != nil && bytes.Compare(kb[:min(len(kb), len(end))], end) > 0 {
			break
		}
		if read++; limit > 0 && read > limit {
			break
		}
		if len(kb) == len(pre)+16 && bytes.Equal(kb[len(pre)+8:], want) {
			return parseDumpsterKey(kb)
		}
	}
	return DumpsterKey{}, false
}

// DumpsterCopy returns the record of the copy k (its envelope and
// recipients), nil without error when there is none.
func (t *Tx) DumpsterCopy(k DumpsterKey) (*Message, error) {
	v := t.tx.Bucket(bucketDumpster).Get(k.bytes())
	if v == nil {
		return nil, nil
	}
	return decodeMessage(v)
}

// DumpsterRecipients rewrites the record of the copy k as m (the same
// message with more recipients): its body, key and the database's totals
// stay as they are.
func (t *Tx) DumpsterRecipients(k DumpsterKey, m *Message) error {
	kb := k.bytes()
	if t.tx.Bucket(bucketDumpster).Get(kb) == nil {
		return fmt.Errorf("dumpster entry %s/%s does not exist", k.Database, k.ID)
	}
	return t.tx.Bucket(bucketDumpster).Put(kb, m.encode())
}

// DumpsterHas reports whether an entry exists.
func (t *Tx) DumpsterHas(k DumpsterKey) bool {
	return t.tx.Bucket(bucketDumpster).Get(k.bytes()) != nil
}

// DumpsterBody returns a copy of an entry's bytes, a spooled one's file
// read whole (DumpsterBodyOf does not read it).
func (t *Tx) DumpsterBody(k DumpsterKey) ([]byte, error) {
	b, err := t.DumpsterBodyOf(k)
	if err != nil {
		return nil, err
	}
	return b.Bytes()
}

// Request is a redelivery request for a database's dumpster (TD-2), kept
// so that a retried request with the same id is not carried out twice.
// The window is copies kept in [Since, Started] by messages older than
// the request (queue id below FirstID): copies kept after the request
// began — among them the ones it resubmitted, delivered again — are not
// in it, even where the clock did not move.
type Request struct {
	ID          string
	Database    string
	Since       time.Time
	Started     time.Time
	FirstID     ID
	Phase       RequestPhase
	Cleared     int // duplicate records forgotten
	Resubmitted int // dumpster copies put back in the queue
	Skipped     int // dumpster copies not put back: their content is unreadable (logged one by one)
}

// Scan names the request for the header scans of mailboxes its copies
// share (MarkRedelivery): its id and its first id (a later request under
// the same id, once this one is forgotten, is another).
func (r *Request) Scan() string { return r.ID + "/" + r.FirstID.String() }

// RequestPhase is how far a request got.
type RequestPhase uint8

// Request phases, in order.
const (
	Clearing     RequestPhase = iota // forgetting the window's duplicate records
	Resubmitting                     // moving the window's copies to the queue
	Done
)

// The request record keeps the layout of version 1 (the previous
// release reads exactly that: version 1, these fields, no trailing
// byte). Fields added since live in an extension record beside it
// (bucket requestext, same key), which the previous release never reads:
// a rollback reads every request, and only loses the count of skipped
// copies. Version 2 (Skipped appended to the record, written by builds
// between the two releases) is still read, and rewritten at open
// (rewriteRequests). README: Upgrades and rollback.
const requestVersion = 1

func (r *Request) encode() []byte {
	e := encoder{buf: []byte{requestVersion}}
	e.str(r.Database)
	e.time(r.Since)
	e.time(r.Started)
	e.uint(uint64(r.FirstID))
	e.uint(uint64(r.Phase))
	e.uint(uint64(r.Cleared))
	e.uint(uint64(r.Resubmitted))
	return e.buf
}

func decodeRequest(id string, b []byte) (*Request, error) {
	if len(b) == 0 || b[0] != requestVersion && b[0] != 2 {
		return nil, fmt.Errorf("%w: request %q: unknown version", errCorrupt, id)
	}
	d := decoder{buf: b[1:]}
	r := &Request{ID: id}
	r.Database = d.str()
	r.Since = d.time()
	r.Started = d.time()
	r.FirstID = ID(d.uint())
	r.Phase = RequestPhase(d.small())
	if r.Phase > Done {
		d.err = fmt.Errorf("phase %d", r.Phase)
	}
	r.Cleared = int(d.small())
	r.Resubmitted = int(d.small())
	if b[0] == 2 {
		r.Skipped = int(d.small())
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: request %q: %v", errCorrupt, id, d.err)
	}
	return r, nil
}

// The extension record: version 1 ‖ the request's FirstID ‖ Skipped,
// as varints. FirstID binds it to one request: the previous release
// deletes a request without its extension, and a later request under the
// same id (a new FirstID) must not inherit the old count. A later
// release appends its fields after these; this decoder ignores them, so
// the extension itself rolls back too.
func encodeRequestExt(r *Request) []byte {
	e := encoder{buf: []byte{1}}
	e.uint(uint64(r.FirstID))
	e.uint(uint64(r.Skipped))
	return e.buf
}

func decodeRequestExt(b []byte) (first ID, skipped int, err error) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, fmt.Errorf("%w: request extension: unknown version", errCorrupt)
	}
	d := decoder{buf: b[1:]}
	first = ID(d.uint())
	skipped = int(d.small())
	if d.err != nil {
		return 0, 0, fmt.Errorf("%w: request extension: %v", errCorrupt, d.err)
	}
	return first, skipped, nil
}

// withExt adds the extension's fields to r, when it belongs to r.
func (t *Tx) withExt(r *Request) (*Request, error) {
	v := t.tx.Bucket(bucketRequestExt).Get([]byte(r.ID))
	if v == nil {
		return r, nil
	}
	first, skipped, err := decodeRequestExt(v)
	if err != nil {
		return nil, fmt.Errorf("request %q: %w", r.ID, err)
	}
	if first == r.FirstID && r.Skipped == 0 { // a version-2 record carries its own count
		r.Skipped = skipped
	}
	return r, nil
}

// rewriteRequests, at open, rewrites version-2 requests in the layout
// the previous release reads, with their count in the extension, and
// drops extensions whose request is gone (the previous release deleted
// it). Requests are few: one per mailbox failover.
func rewriteRequests(tx *bolt.Tx) error {
	reqs, ext := tx.Bucket(bucketRequests), tx.Bucket(bucketRequestExt)
	var v2 []*Request
	err := reqs.ForEach(func(k, v []byte) error {
		if len(v) > 0 && v[0] == 2 {
			if r, err := decodeRequest(string(k), v); err == nil {
				v2 = append(v2, r)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range v2 {
		if err := putRequest(reqs, ext, r); err != nil {
			return err
		}
	}
	var orphans [][]byte
	_ = ext.ForEach(func(k, _ []byte) error {
		if reqs.Get(k) == nil {
			orphans = append(orphans, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range orphans {
		if err := ext.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func putRequest(reqs, ext *bolt.Bucket, r *Request) error {
	if err := reqs.Put([]byte(r.ID), r.encode()); err != nil {
		return err
	}
	if r.Skipped == 0 {
		return ext.Delete([]byte(r.ID))
	}
	return ext.Put([]byte(r.ID), encodeRequestExt(r))
}

// Request returns the stored request id, or ErrNotFound; a record (or
// its extension) that does not decode is ErrDamagedRequest.
func (t *Tx) Request(id string) (*Request, error) {
	v := t.tx.Bucket(bucketRequests).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	return t.requestOf(id, v)
}

// requestOf is the request stored as v under id, with its extension.
func (t *Tx) requestOf(id string, v []byte) (*Request, error) {
	r, err := decodeRequest(id, v)
	if err == nil {
		r, err = t.withExt(r)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamagedRequest, err)
	}
	return r, nil
}

// PutRequest stores r: the record, and its extension when it has one.
func (t *Tx) PutRequest(r *Request) error {
	return putRequest(t.tx.Bucket(bucketRequests), t.tx.Bucket(bucketRequestExt), r)
}

// Requests lists the stored requests (there are few: one per failover),
// without those whose record does not decode (DamagedRequests): one
// damaged record keeps no other request from being resumed or pruned.
func (t *Tx) Requests() []*Request {
	out, _ := t.RequestsSplit()
	return out
}

// RequestsSplit reads every stored request once: those that decode
// (Requests) and the ids of those whose record or extension does not
// (DamagedRequests).
func (t *Tx) RequestsSplit() (sound []*Request, damaged []string) {
	_ = t.tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
		if r, err := t.requestOf(string(k), v); err == nil {
			sound = append(sound, r)
		} else {
			damaged = append(damaged, string(k))
		}
		return nil
	})
	return sound, damaged
}

// DeleteRequest forgets a request.
func (t *Tx) DeleteRequest(id string) error {
	if err := t.tx.Bucket(bucketRequestExt).Delete([]byte(id)); err != nil {
		return err
	}
	return t.tx.Bucket(bucketRequests).Delete([]byte(id))
}

// The redelivery bucket marks the messages whose next delivery may find
// a copy the mailbox store got from this server already, without this
// server's duplicate record or dumpster copy of it: a delivery of such a
// message that the mailbox store finds done already (duplicate
// suppressed, with no record here) still keeps its dumpster copy and
// its duplicate record, as a delivery does (Manager.finish). A message
// is marked
//   - when a redelivery request takes its copy from the dumpster
//     (MarkRedelivery): the copy left the dumpster to be redelivered,
//     and the mailbox having the message is no reason to lose the only
//     spare of it;
//   - when it is attempted again after an attempt whose results were
//     lost (markRepeat): a kill -9 while it was in delivery (Recover)
//     or a results' commit that failed (a full disk, stranded.go). That
//     attempt may have written into the mailbox before its commit, and
//     the commit carried the record and the dumpster copy: without the
//     mark, the repeat finding its own copy would keep none, and the
//     acknowledged message would be outside the dumpster's protection.
//   - when a restored backup is opened the first time (Store.init):
//     each of its messages may have been delivered after the backup by
//     the database the restore replaced, whose record and dumpster copy
//     are gone with it.
//
// A recipient of a copy taken over from a primary (takenOverRcpt, as
// the attempt began) needs no mark: its delivery is, for the mailbox, a
// repeat of the primary's attempt, which may have written the copy and
// died before its commit (rt36 F1) — the primary, back, drops its
// original as finished here (takendone.go) and keeps none, so the copy
// found is kept here (Manager.finish). Nor does a message whose sender
// said its copy may repeat such a write (Message.MayRepeat: the server
// that took the copy over handed it on here instead of delivering it,
// orgid.RepeatHeader): the primary drops its original as finished by
// that server, which, handing it on, kept no copy itself — so the copy
// found is kept here, for each recipient pending as the attempt began.
//
// When the copy found came from another hub of a shared store instead,
// that hub keeps its own copy as well: one spare too many, never one
// too few.
//
// Delete drops the mark with the message.

// Redelivered reports whether m, claimed for an attempt, is a copy a
// dumpster redelivery request put back in the queue (its mark names the
// request: Message.Scan; a repeat of it too), not a restore's nor a
// repeat's of another message. Such a copy repairs a mailbox: the
// sender's message was delivered before, so none of its recipients'
// outcomes is the sender's to hear of — no DSN (finish, jobcommit.go,
// noticecommit.go); the log and the tracking log tell the operator
// (rt38 F4: an expired copy bounced to its sender).
func (m *Message) Redelivered() bool {
	return m.Prior == PriorRedelivery && m.Scan != "" && m.Scan != scanRestore
}

// redeliveryRequest is the request id a redelivered copy's Scan names
// (Request.Scan: the id, "/", its first message id).
func redeliveryRequest(scan string) string {
	id, _, _ := strings.Cut(scan, "/")
	return id
}

// MarkRedelivery records that message id came back from the dumpster
// by redelivery request request (its id and start: Request.Scan), which
// the mark keeps for the delivery (Message.Prior, Message.Scan): the
// copies of one request share one header scan of a mailbox.
func (t *Tx) MarkRedelivery(id ID, request string) error {
	return t.tx.Bucket(bucketRedeliver).Put(id.Key(), []byte(markRequestPrefix+request))
}

// markRepeat records that message id is attempted again after an
// attempt whose results were lost. A redelivery's mark keeps its
// request after markRepeatValue (the repeat of a redelivered message
// still looks for a copy by its header); a mark that is already a
// repeat's is kept as it is, request and all, however many attempts
// are lost in a row.
func (t *Tx) markRepeat(id ID) error {
	b := t.tx.Bucket(bucketRedeliver)
	old := b.Get(id.Key())
	if bytes.HasPrefix(old, markRepeatValue) {
		return nil
	}
	v := markRepeatValue
	if old != nil {
		v = append(append(append([]byte(nil), markRepeatValue...), 0), old...)
	}
	return b.Put(id.Key(), v)
}

// restoredMark is the mark a restored backup's message gets at the
// first Open (Store.init) from the mark old it had in the backup: no
// value (a restore's: by name, no deliver event of its own), or a
// redelivery's request when it had one, so that its repeat still looks
// for a copy by its header under the request's scan name. A repeat's
// prefix is dropped: the delivery the replaced database may have made
// had its event there.
func restoredMark(old []byte) []byte {
	if rest, ok := bytes.CutPrefix(old, markRepeatValue); ok {
		if len(rest) == 0 {
			return nil
		}
		old = rest[1:]
	}
	if bytes.HasPrefix(old, []byte(markRequestPrefix)) {
		return bytes.Clone(old)
	}
	return nil
}

// markRequestPrefix starts a redelivery's mark (then the request's
// scan name). An older release's marks of a redelivery, and a restore's,
// have no value.
const markRequestPrefix = "request:"

// priorOf is what the store knows of a copy of m a mailbox may hold from
// before this attempt (Message.Prior) and the header scan a redelivery
// shares (Message.Scan), read in the commit that claims m.
//   - PriorRedelivery: its copy may be in the mailbox under a reader's
//     name too: a redelivery request's copy (or its repeat), a repeat
//     after lost results (markRepeat: a scan of its own, "" — the lost
//     attempt may have written the file in this very process, after a
//     scan another repeat shared), a restored backup's message, which
//     the replaced database may have delivered (scanRestore: shared,
//     its files predate the process).
//   - PriorAttempt: a recipient with a result of an earlier attempt —
//     deferred after its write, held, redirected — or of a takeover
//     (Recipient.Queue set), or the message was attempted before
//     (Attempts, LastError).
//   - PriorNone: none of these: no attempt of this server began on it
//     (a claim's commit makes it Active before any; a crash after that
//     leaves the repeat mark, Recover), so nothing of it was written into
//     a mailbox by this server.
func (t *Tx) priorOf(m *Message) (Prior, string) {
	if b := t.tx.Bucket(bucketRedeliver); b != nil {
		if v := b.Get(m.ID.Key()); v != nil {
			if rest, ok := bytes.CutPrefix(v, markRepeatValue); ok {
				if len(rest) == 0 {
					// A repeat: the lost attempt may have written the
					// file, and a reader may have renamed it since
					// (umbra was down): by its name and by the org id
					// in the header (rt19h F2), a scan of its own — a
					// stranded attempt of this process may have written
					// it after a scan another repeat would share.
					return PriorRedelivery, ""
				}
				v = rest[1:] // a redelivery's mark after the repeat's
			}
			if scan, ok := bytes.CutPrefix(v, []byte(markRequestPrefix)); ok {
				return PriorRedelivery, string(scan)
			}
			// A restore's mark (or an older release's redelivery): the
			// messages delivered after the backup are delivered again,
			// and their files may have been read and renamed since — by
			// name and header, as a repeat.
			return PriorRedelivery, scanRestore

		}
	}
	if m.Attempts > 0 || m.LastError != "" {
		return PriorAttempt, ""
	}
	for _, r := range m.Rcpts {
		if r.Queue != "" || r.LastReply != "" || r.Primary != "" {
			return PriorAttempt, ""
		}
	}
	return PriorNone, ""
}

// scanRestore names the header scan restored messages share
// (mailbox.Options.Scan): one scan of a mailbox for those delivered
// within the scan's lifetime, not one per message — their files were
// written before the restore, so before this process began.
const scanRestore = "restore"

// markRepeatValue tells markRepeat's mark from a redelivery's or a
// restore's (no value): the delivery a repeat finds was made by an
// attempt whose results, and with them its events, were lost, so the
// repeat writes its deliver event (repeatsLostAttempt); a redelivered
// or restored message's delivery had its event when it was made. A
// mark of an older release (no value) writes none.
var markRepeatValue = []byte("repeat")

// repeatsLostAttempt says whether markRepeat marked id.
func (t *Tx) repeatsLostAttempt(id ID) bool {
	b := t.tx.Bucket(bucketRedeliver)
	return b != nil && bytes.HasPrefix(b.Get(id.Key()), markRepeatValue)
}

// keepsFoundCopy says whether MarkRedelivery or markRepeat marked id.
func (t *Tx) keepsFoundCopy(id ID) bool {
	b := t.tx.Bucket(bucketRedeliver)
	return b != nil && b.Get(id.Key()) != nil
}

// ErrDamagedRequest: the stored record of a redelivery request does not
// decode. It is kept as stored (DamagedRequests names it), never resumed,
// and its id is not taken again.
var ErrDamagedRequest = errors.New("the redelivery request record is damaged")

// DamagedRequests names the stored redelivery requests whose record (or
// its extension) does not decode: Requests leaves them out.
func (t *Tx) DamagedRequests() []string {
	_, out := t.RequestsSplit()
	return out
}
