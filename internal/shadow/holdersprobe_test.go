package shadow

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// tcpCopier probes each holder over real TCP: it dials the holder's
// address and reads its greeting until the probe's context ends (the
// deadline a pass gives each probe). A probe of hub-d, which answers,
// marks message 5 lost there.
type tcpCopier struct {
	addrs map[string]string
	store *fakeHolderStore

	mu       sync.Mutex
	inFlight int            // probes begun and not ended
	most     int            // the most in flight at once
	atAnswer map[string]int // probes ended when the server answered
	ended    int
	made     []uint64
	deadline time.Duration // each probe's own bound, as ReceiptShadow.Probe's
	want     int           // probes that make a pass's probes "all in"
	allIn    chan struct{} // closed when want probes are in flight at once
}

func (c *tcpCopier) Probe(ctx context.Context, server string) (string, error) {
	c.mu.Lock()
	c.inFlight++
	c.most = max(c.most, c.inFlight)
	if c.inFlight == c.want {
		close(c.allIn)
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.ended++
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, c.deadline)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addrs[server])
	if err != nil {
		return "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.atAnswer[server] = c.ended
	if server == "hub-d" {
		c.store.single = append(c.store.single, 5)
	}
	return "db-" + server, nil
}

func (c *tcpCopier) Recopy(_ context.Context, id uint64) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.made = append(c.made, id)
	c.store.single = nil
	return "hub-e", nil
}

// rt19 fixa19 item 2 (SR-7): holders are probed at once, each probe
// bounded by the copier: three holders that take the connection and
// never answer (stopped processes) — one fewer than the probes of a pass
// run at once — delay neither the probe of a fourth that answers nor
// the copies its probe found lost, and the pass lasts about one probe's
// bound, not one per hung holder.
func TestHoldersPassProbesHungHoldersAtOnce(t *testing.T) {
	hung1 := testsupport.Silent(t, "127.0.0.1:0")
	hung2 := testsupport.Silent(t, "127.0.0.1:0")
	hung3 := testsupport.Silent(t, "127.0.0.1:0")
	st := &fakeHolderStore{holders: map[string]int{"hub-a": 1, "hub-b": 1, "hub-c": 1, "hub-d": 1}}
	cp := &tcpCopier{
		store:    st,
		atAnswer: map[string]int{},
		deadline: 3 * time.Second,
		want:     4,
		allIn:    make(chan struct{}),
	}
	// hub-d answers once all four probes are in flight, so a pass that
	// probed one holder at a time gets no answer within hub-d's bound
	// and makes no copy; a loaded machine cannot end hub-d's probe
	// before the last one begins.
	ok := testsupport.Serve(t, "127.0.0.1:0", func(c net.Conn) {
		select {
		case <-cp.allIn:
			c.Write([]byte("220 hub-d ready\r\n"))
		case <-time.After(10 * time.Second):
		}
	})
	cp.addrs = map[string]string{"hub-a": hung3.Addr(), "hub-b": hung1.Addr(), "hub-c": hung2.Addr(), "hub-d": ok.Addr()}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // the test's bound
	defer cancel()
	left := h.Pass(ctx)
	if left != 0 || len(cp.made) != 1 || cp.made[0] != 5 {
		t.Fatalf("left %d, made %v; want message 5's copy made again", left, cp.made)
	}
	// Counted, not timed: the four probes ran at once, hub-d answered
	// before any hung one ended, and the pass ended only after every
	// probe had.
	if cp.most != 4 {
		t.Fatalf("at most %d probes at once, want the 4 holders probed together", cp.most)
	}
	if n, ok := cp.atAnswer["hub-d"]; !ok || n != 0 {
		t.Fatalf("hub-d answered after %d probes had ended (%v): behind the hung holders", n, ok)
	}
	if cp.ended != 4 {
		t.Fatalf("the pass ended with %d of 4 probes ended", cp.ended)
	}
}
