package queue

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

// The keys and small values umbra reads back from its database (a
// damaged or foreign file can hold anything): each reader refuses what
// is not one without panicking, and what it accepts is written back by
// its writer to the same octets.
func FuzzRecordKeys(f *testing.F) {
	now := time.Unix(1764536000, 123)
	f.Add(scheduleKey(now, 42))
	f.Add(queueKey("smtp:example.org", 7))
	f.Add(queueKey("", 7))
	f.Add(DumpsterKey{Database: "DB1", KeptAt: now, ID: 9}.bytes())
	f.Add(encodeRef("0123abcd-spool_1", 4096, 1<<20))
	f.Add([]byte("00000000000000FF"))
	f.Add(append(binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())), "peer.example\x01550 no\x00a\x00b"...))
	f.Add(refKey(refMessage, ID(5).Key()))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		if tm, id, ok := parseScheduleKey(b); ok && tm.UnixNano() >= 0 {
			if got := scheduleKey(tm, id); !bytes.Equal(got, b) {
				t.Fatalf("schedule key %x reads as %v %v, written %x", b, tm, id, got)
			}
		}
		if q, id, ok := parseQueueKey(b); ok {
			if got := queueKey(q, id); !bytes.Equal(got, b) {
				t.Fatalf("queue key %x reads as %q %v, written %x", b, q, id, got)
			}
		}
		if k, ok := parseDumpsterKey(b); ok && k.KeptAt.UnixNano() >= 0 {
			if got := k.bytes(); !bytes.Equal(got, b) {
				t.Fatalf("dumpster key %x reads as %+v, written %x", b, k, got)
			}
		}
		if name, off, n, ok := decodeRef(b); ok {
			if !validSpoolName(name) || strings.ContainsAny(name, "/\\.\x00") || off < 0 || n < 0 {
				t.Fatalf("spool reference %x reads as %q %d %d", b, name, off, n)
			}
			if got := encodeRef(name, off, n); !bytes.Equal(got, b) {
				t.Fatalf("spool reference %x written %x", b, got)
			}
		}
		if id, err := ParseID(string(b)); err == nil && !strings.EqualFold(id.String(), string(b)) {
			t.Fatalf("id %q reads as %v", b, id)
		}
		if server, _, pushed, ok := singleMark(b); ok {
			if strings.Contains(server, pushedSep) || strings.Contains(server, refusedSep) {
				t.Fatalf("mark %x names server %q", b, server)
			}
			for _, p := range pushed {
				if strings.Contains(p, pushedSep) {
					t.Fatalf("mark %x names pushed server %q", b, p)
				}
			}
		}
		singleRefusal(b)
		describeRef(b)
	})
}

// The slot file is read at start from the disk, whatever it holds: a
// read never panics, reads at most the header and maxSlots slots (and
// one byte more), trusts only a file with this boot's and this run's
// header whose every slot is whole and sound, and never names more
// messages than the slots it read.
func FuzzPeerWaitSlots(f *testing.F) {
	boot := bytes.Repeat([]byte{0xb0}, 16)
	run := bytes.Repeat([]byte{0x4e}, 16)
	slot := func(id ID, phase byte) []byte {
		var b [peerWaitSlotSize]byte
		binary.BigEndian.PutUint64(b[:8], uint64(id))
		b[8] = phase
		binary.BigEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
		return b[:]
	}
	good := peerWaitHeader(boot, run)
	for i, p := range []byte{slotRunning, slotWaiting, slotStopped, slotFree} {
		good = append(good, slot(ID(100+i), p)...)
	}
	good = append(good, make([]byte, peerWaitSlotSize)...)
	f.Add(good)
	f.Add(good[:peerWaitHeaderSize+3])
	f.Add(append(slot(201, '1'), slot(202, '0')...)) // an older release's
	f.Add([]byte("umbraPW2"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxSlots = 8
		cr := &countingReader{r: bytes.NewReader(b)}
		r := readPeerWaitSlots(cr, maxSlots, boot, run)
		if limit := int64(peerWaitHeaderSize + maxSlots*peerWaitSlotSize + 1); cr.n > limit {
			t.Fatalf("read %d octets, more than %d", cr.n, limit)
		}
		if r.trusted {
			if r.why != "" || len(b) < peerWaitHeaderSize || !bytes.Equal(b[:peerWaitHeaderSize], peerWaitHeader(boot, run)) ||
				(len(b)-peerWaitHeaderSize)%peerWaitSlotSize != 0 || (len(b)-peerWaitHeaderSize)/peerWaitSlotSize > maxSlots {
				t.Fatalf("trusted %x", b)
			}
			if len(r.running)+len(r.stopped) > maxSlots {
				t.Fatalf("%d messages from %d slots", len(r.running)+len(r.stopped), maxSlots)
			}
			return
		}
		if r.why == "" {
			t.Fatalf("untrusted without a reason: %x", b)
		}
		if len(r.waited) > min(len(b), peerWaitHeaderSize+maxSlots*peerWaitSlotSize)/peerWaitSlotSize {
			t.Fatalf("%d messages waited from %d octets", len(r.waited), len(b))
		}
	})
}
