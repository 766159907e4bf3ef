package ldapdir

import (
	"container/list"
	"sync"
	"time"
)

// cache holds the directory's answers for addresses until they expire,
// at most size of them (the least recently stored go first). Memory
// only: the directory is the source of truth, and a restart asks again.
type cache struct {
	mu    sync.Mutex
	size  int
	items map[string]*list.Element
	order *list.List // front: newest
}

type cached struct {
	key     string
	r       recipient
	expires time.Time
}

func newCache(size int) *cache {
	return &cache{size: size, items: map[string]*list.Element{}, order: list.New()}
}

func (c *cache) get(key string, now time.Time) (recipient, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return recipient{}, false
	}
	it := e.Value.(*cached)
	if !now.Before(it.expires) {
		c.order.Remove(e)
		delete(c.items, key)
		return recipient{}, false
	}
	return it.r, true
}

func (c *cache) put(key string, r recipient, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.Remove(e)
	}
	c.items[key] = c.order.PushFront(&cached{key: key, r: r, expires: expires})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cached).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
