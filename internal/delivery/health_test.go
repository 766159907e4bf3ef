package delivery

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// hungServer accepts connections and never answers (a SIGSTOPped
// primary: the kernel still completes the handshake).
type hungServer struct {
	ln      net.Listener
	mu      sync.Mutex
	accepts int
	conns   []net.Conn
}

func startHung(t *testing.T, addr string) *hungServer {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &hungServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.accepts++
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		for _, c := range h.conns {
			c.Close()
		}
		h.mu.Unlock()
	})
	return h
}

func (h *hungServer) n() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepts
}

// SR-16 (issue 20 item 2): a primary that did not answer a heartbeat is
// tried after the other hosts at once; delivery does not spend a command
// timeout on it first. A heartbeat it answers again clears the mark.
func TestFailedHeartbeatDeprioritisesHost(t *testing.T) {
	hung := startHung(t, "127.0.0.1:0")
	good := startSink(t, "127.0.0.1:0", false, nil)
	sc := config.SendConnector{Name: "to-hubs", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{hung.ln.Addr().String(), good.addr}, TLS: config.TLSNone}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	// A try of the hung host would cost this long: never spent.
	d.st.Load().cfg.CommandTimeout = time.Minute

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for hung.n() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel() // the heartbeat's bound, as the shadow manager's timer ends it
	}()
	if _, _, err := heartbeatIDs(d, ctx, "hub-a", hung.ln.Addr().String()); err == nil {
		t.Fatal("a heartbeat to a hung primary succeeded")
	}
	for i := 0; i < 8; i++ { // smart hosts are shuffled: each order comes up
		m := message("x@anywhere.example")
		if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
			t.Fatalf("delivery %d: %+v", i, res)
		}
		d.mu.Lock()
		d.idle = map[string][]*pooled{} // a new connection each time
		d.mu.Unlock()
	}
	if n := hung.n(); n != 1 {
		t.Fatalf("delivery tried the hung primary first after its failed heartbeat (%d connections)", n-1)
	}

	// The organisation's route: the same record orders a site's servers.
	names, addrs := orderOrg(d.health, []string{"hub-a", "hub-b"}, []string{hung.ln.Addr().String(), good.addr})
	if names[0] != "hub-b" || addrs[1] != hung.ln.Addr().String() {
		t.Fatalf("site order after a failed heartbeat: %v %v", names, addrs)
	}
	d.health.Responsive("hub-a", hung.ln.Addr().String())
	if names, _ := orderOrg(d.health, []string{"hub-a", "hub-b"}, []string{hung.ln.Addr().String(), good.addr}); names[0] != "hub-a" {
		t.Fatalf("a primary that answered again is still tried last: %v", names)
	}
}
