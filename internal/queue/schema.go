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
//	messages  ID (8, BE)       → message record (record.go)
//	bodies    ID (8, BE)       → message bytes as received, trace header first
//	schedule  due (8, BE unix nanoseconds) ‖ ID (8, BE) → empty
//	          one entry per Ready message: the time index of retries
//	active    ID (8, BE)       → empty
//	          one entry per Active message: what was in flight at a crash
var (
	bucketMeta     = []byte("meta")
	bucketMessages = []byte("messages")
	bucketBodies   = []byte("bodies")
	bucketSchedule = []byte("schedule")
	bucketActive   = []byte("active")

	allBuckets = [][]byte{bucketMeta, bucketMessages, bucketBodies, bucketSchedule, bucketActive}

	keyDBID          = []byte("db_id")
	keySchemaVersion = []byte("schema_version")
	keyCreated       = []byte("created")
)

const schemaVersion = 1

// scheduleKey orders by due time, then by id.
func scheduleKey(due time.Time, id ID) []byte {
	k := make([]byte, 16)
	n := due.UnixNano()
	if n < 0 {
		n = 0
	}
	binary.BigEndian.PutUint64(k, uint64(n))
	binary.BigEndian.PutUint64(k[8:], uint64(id))
	return k
}

func parseScheduleKey(k []byte) (time.Time, ID, bool) {
	if len(k) != 16 {
		return time.Time{}, 0, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k))), ID(binary.BigEndian.Uint64(k[8:])), true
}
