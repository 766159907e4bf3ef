package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// RT-7, RFC 1870: a message over a next hop's SIZE is refused naming the
// size it is held to and, where that is not the size stored (a relay to
// a hub of the organisation: held without umbra's trace fields), the
// stored size too — the size the log, umbra message list and the DSN
// give — as the routing and send connector refusals do (sizeSaid); a
// bounce naming only 4308 bytes where the log says 4460 reads as two
// messages.
func TestRT7HopSizeRefusalNamesStoredSize(t *testing.T) {
	h := startOldHost(t, "127.0.0.151:0", "250-hub.example\r\n250 SIZE 10", "250 hub.example")
	conn, err := net.DialTimeout("tcp", h.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(context.Background(), conn, smtp.ClientOptions{LocalName: "umbra.test", TLS: smtp.TLSNone, CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := &queue.Message{Size: 4460}
	parts := [][]byte{make([]byte, 4500)} // as sent

	held := withHeldSize(context.Background(), 4308)
	reply, err := contentRefusal(held, c, "hub-b", m, parts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"552 5.3.4 hub-b takes messages of at most 10 bytes (its SIZE), this one is 4308 bytes", "4460 bytes as stored"} {
		if !strings.Contains(reply, want) {
			t.Errorf("held: %q; want %q in it", reply, want)
		}
	}
	// Held to the bytes sent (a hop outside the organisation): those,
	// and the size stored where it differs.
	reply, err = contentRefusal(context.Background(), c, "mx.example", m, parts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"552 5.3.4 mx.example takes messages of at most 10 bytes (its SIZE), this one is 4500 bytes", "4460 bytes as stored"} {
		if !strings.Contains(reply, want) {
			t.Errorf("sent: %q; want %q in it", reply, want)
		}
	}
}
