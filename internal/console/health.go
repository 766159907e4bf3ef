package console

import (
	"strings"
	"sync"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// Health records the last delivery result per next hop as the queue
// manager reports it (it is a queue.Events receiver): the map's "last
// delivery result" of a server. Keys are the server name and its
// "ip:port", taken from a next hop like "hub2.example.org[127.0.0.2]:25".
type Health struct {
	clk  clock.Clock
	mu   sync.Mutex
	last map[string]Result
	// contact is, per key, the last result the next hop answered itself
	// (reached): the map's "last contact" — never an attempt that did
	// not reach it (noContact).
	contact map[string]time.Time
}

// Result is one delivery attempt's outcome at a next hop.
type Result struct {
	At    time.Time
	Event string // deliver, send, shadow, defer, fail
	Reply string
	Hop   string
}

// maxHealthKeys bounds the record (one key per distinct next hop).
const maxHealthKeys = 4096

// NewHealth makes an empty record.
func NewHealth(clk clock.Clock) *Health {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Health{clk: clk, last: map[string]Result{}, contact: map[string]time.Time{}}
}

// Event implements queue.Events.
func (h *Health) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	switch name {
	case "deliver", "send", "shadow", "defer", "fail":
	default:
		return
	}
	if r == nil || r.NextHop == "" {
		return
	}
	res := Result{At: h.clk.Now(), Event: name, Reply: reply, Hop: r.NextHop}
	h.mu.Lock()
	defer h.mu.Unlock()
	reached := !(name == "defer" && noContact(reply, r.NextHop, r.Queue))
	for _, k := range hopKeys(r.NextHop) {
		if _, ok := h.last[k]; ok || len(h.last) < maxHealthKeys {
			h.last[k] = res
			if reached {
				h.contact[k] = res.At
			}
		}
	}
}

// noContact reports whether a deferral's reply says the next hop was not
// reached, as the queue's DSN reads it (queue.NotReached): umbra's own
// words that it could not connect to that hop (refused, timed out), no
// host of the destination reachable or found, the destination dead. A
// refused contact is never a contact (README, the map): the map showed
// the time of a refused connection as a server's last contact (opsrt43
// O1). A reply the host gave — a 4.4.1 or 4.4.4 of its own too, a
// relay's about a host beyond it —, a session it dropped (4.4.2) or a
// TLS policy's refusal after it answered was a contact (errtext44: the
// enhanced status code alone counted those as not reached).
func noContact(reply, nextHop, queueName string) bool {
	return queue.NotReached(reply, nextHop, queueName)
}

// LastContact is the last time a server known by name or address was
// reached by a delivery (zero: never, as far as this server knows).
func (h *Health) LastContact(keys ...string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var best time.Time
	for _, k := range keys {
		if at := h.contact[strings.ToLower(k)]; at.After(best) {
			best = at
		}
	}
	return best
}

// hopKeys splits "name[ip]:port" into the name and "ip:port"; any other
// next hop is its own key.
func hopKeys(hop string) []string {
	name, rest, ok := strings.Cut(hop, "[")
	if !ok {
		return []string{strings.ToLower(hop)}
	}
	ip, port, ok := strings.Cut(rest, "]:")
	if !ok {
		return []string{strings.ToLower(name)}
	}
	if strings.Contains(ip, ":") {
		ip = "[" + ip + "]"
	}
	return []string{strings.ToLower(name), ip + ":" + port}
}

// Last is the newest result at a server known by name or address.
func (h *Health) Last(keys ...string) (Result, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var best Result
	found := false
	for _, k := range keys {
		if r, ok := h.last[strings.ToLower(k)]; ok && (!found || r.At.After(best.At)) {
			best, found = r, true
		}
	}
	return best, found
}
