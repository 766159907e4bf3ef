package ratelimit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Snapshot encoding (version 1): the version byte, then per counter
//
//	uvarint key length ‖ key ‖ varint window (ns) ‖ varint start (unix ns) ‖
//	uvarint current count ‖ uvarint previous count ‖ varint last update (unix ns)
//
// The transport database keeps the latest snapshot (cmd/umbra saves it
// every minute and at shutdown), so a restart does not hand every
// client a fresh allowance.
const snapshotVersion = 1

// Bounds of a snapshot: the most recently updated counters only (a
// flood of addresses must not make the periodic save expensive), and
// limits on what Restore accepts.
const (
	maxSnapshotKeys = 50000
	maxKeyLen       = 1024
	maxCount        = 1 << 31
)

// Snapshot encodes the counters that still count something at now, the
// most recently updated first, at most maxSnapshotKeys of them.
func (c *Counters) Snapshot() []byte {
	now := c.clk.Now()
	c.mu.Lock()
	type kw struct {
		k string
		w window
	}
	live := make([]kw, 0, len(c.windows))
	for k, w := range c.windows {
		if now.Sub(w.lastUpdate) < 2*w.length {
			live = append(live, kw{k, *w})
		}
	}
	c.mu.Unlock()
	sort.Slice(live, func(i, j int) bool { return live[i].w.lastUpdate.After(live[j].w.lastUpdate) })
	if len(live) > maxSnapshotKeys {
		live = live[:maxSnapshotKeys]
	}
	b := []byte{snapshotVersion}
	for _, e := range live {
		b = binary.AppendUvarint(b, uint64(len(e.k)))
		b = append(b, e.k...)
		b = binary.AppendVarint(b, int64(e.w.length))
		b = binary.AppendVarint(b, e.w.start.UnixNano())
		b = binary.AppendUvarint(b, uint64(e.w.cur))
		b = binary.AppendUvarint(b, uint64(e.w.prev))
		b = binary.AppendVarint(b, e.w.lastUpdate.UnixNano())
	}
	return b
}

var errSnapshot = errors.New("rate counters snapshot: malformed")

// Restore adds the counters of a snapshot (a counter that exists
// already is kept as it is). A malformed snapshot restores nothing.
func (c *Counters) Restore(b []byte) (int, error) {
	ws, err := decodeSnapshot(b)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, w := range ws {
		if _, ok := c.windows[k]; ok || len(c.windows) >= maxKeys || c.scopes[scopeOf(k)] >= maxScopeKeys {
			continue
		}
		c.put(k, w)
		n++
	}
	return n, nil
}

func decodeSnapshot(b []byte) (map[string]*window, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != snapshotVersion {
		return nil, fmt.Errorf("rate counters snapshot: version %d", b[0])
	}
	b = b[1:]
	ws := map[string]*window{}
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	sv := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	for len(b) > 0 {
		if len(ws) >= maxSnapshotKeys {
			return nil, fmt.Errorf("%w: more than %d counters", errSnapshot, maxSnapshotKeys)
		}
		kl, ok := uv()
		if !ok || kl == 0 || kl > maxKeyLen || kl > uint64(len(b)) {
			return nil, fmt.Errorf("%w: key length", errSnapshot)
		}
		key := string(b[:kl])
		b = b[kl:]
		length, ok1 := sv()
		start, ok2 := sv()
		cur, ok3 := uv()
		prev, ok4 := uv()
		last, ok5 := sv()
		switch {
		case !(ok1 && ok2 && ok3 && ok4 && ok5):
			return nil, fmt.Errorf("%w: truncated counter", errSnapshot)
		case length <= 0 || cur > maxCount || prev > maxCount:
			return nil, fmt.Errorf("%w: counter out of range", errSnapshot)
		}
		ws[key] = &window{length: time.Duration(length), start: time.Unix(0, start), cur: int(cur), prev: int(prev),
			lastUpdate: time.Unix(0, last)}
	}
	return ws, nil
}
