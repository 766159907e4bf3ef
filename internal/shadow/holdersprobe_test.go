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
	answered map[string]time.Duration // since start
	start    time.Time
	made     []uint64
	deadline time.Duration // each probe's own bound, as ReceiptShadow.Probe's
}

func (c *tcpCopier) Probe(ctx context.Context, server string) (string, error) {
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
	c.answered[server] = time.Since(c.start)
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
	ok := testsupport.Serve(t, "127.0.0.1:0", func(c net.Conn) { c.Write([]byte("220 hub-d ready\r\n")) })
	st := &fakeHolderStore{holders: map[string]int{"hub-a": 1, "hub-b": 1, "hub-c": 1, "hub-d": 1}}
	const deadline = 2 * time.Second
	cp := &tcpCopier{
		addrs:    map[string]string{"hub-a": hung3.Addr(), "hub-b": hung1.Addr(), "hub-c": hung2.Addr(), "hub-d": ok.Addr()},
		store:    st,
		answered: map[string]time.Duration{},
		deadline: deadline,
	}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // the test's bound
	defer cancel()
	cp.start = time.Now()
	left := h.Pass(ctx)
	took := time.Since(cp.start)
	if left != 0 || len(cp.made) != 1 || cp.made[0] != 5 {
		t.Fatalf("left %d, made %v; want message 5's copy made again", left, cp.made)
	}
	if at, ok := cp.answered["hub-d"]; !ok || at >= deadline {
		t.Fatalf("hub-d answered its probe at %v (%v): behind the hung holders", at, ok)
	}
	if took >= deadline+deadline/2 {
		t.Fatalf("the pass took %v with three hung holders: their probes ran one after the other (deadline %v each)", took, deadline)
	}
	if took < deadline {
		t.Fatalf("the pass took %v: it did not wait for the hung holders' probes (deadline %v)", took, deadline)
	}
}
