package signing

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// cacheSize bounds the remembered signatures: a few KiB each.
const cacheSize = 4096

// sigCache remembers the fields Sign put in front of a message, keyed by
// the SHA-256 of the envelope sender and the message bytes, so that a
// retry, or a second destination of the same message, sends the same
// signature instead of signing again: one signature per message as long
// as the server runs with the same keys (a reload builds a new Signer
// and so a new cache). The same bytes give the same canonical form, so a
// remembered signature is as valid as a new one; only its t= is older.
type sigCache struct {
	mu  sync.Mutex
	m   map[[32]byte]*list.Element
	lru *list.List // front: most recently used
}

type cacheEntry struct {
	key    [32]byte
	prefix string
	res    Result
}

func newSigCache() *sigCache {
	return &sigCache{m: map[[32]byte]*list.Element{}, lru: list.New()}
}

func cacheKey(msg []byte, envelopeFrom string, internal bool) [32]byte {
	h := sha256.New()
	h.Write([]byte(envelopeFrom))
	h.Write([]byte{0})
	if internal {
		h.Write([]byte{1}) // the origin decides whether DKIM signs
	} else {
		h.Write([]byte{0})
	}
	h.Write(msg)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *sigCache) get(k [32]byte) (string, Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return "", Result{}, false
	}
	c.lru.MoveToFront(e)
	ce := e.Value.(*cacheEntry)
	return ce.prefix, ce.res, true
}

func (c *sigCache) put(k [32]byte, prefix string, res Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.m[k] = c.lru.PushFront(&cacheEntry{key: k, prefix: prefix, res: res})
	for c.lru.Len() > cacheSize {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).key)
	}
}
