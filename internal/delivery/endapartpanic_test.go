package delivery

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// SPEC SR-1, Q-5: the end of an idle session of copies on receipt runs
// on a goroutine of its own (its QUIT, so that no receive session waits
// for it); a panic there (a defect of umbra's) is recovered, counted
// under part shadow and logged, and its connection is closed — the
// daemon, and every session it serves, goes on. Seen to fail first: the
// test binary died of the panic.
func TestPanicEndingAnIdleReceiptSessionIsRecovered(t *testing.T) {
	h := &replyHop{}
	addr := h.start(t, "127.0.0.133:0")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(context.Background(), conn, smtp.ClientOptions{LocalName: "umbra.test", CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetHop("hub-b")
	var fired atomic.Bool
	hook := func(part string) {
		if part == PanicShadow && fired.CompareAndSwap(false, true) {
			panic("injected panic ending an idle session")
		}
	}
	panicHook.Store(&hook)
	defer panicHook.Store(nil)
	pc := &panicCount{}
	d := &Deliverer{}
	d.SetPanics(pc)
	r := &ReceiptShadow{d: d, idle: map[string][]*receiptConn{}, batches: map[string]*copyBatcher{}, receipts: map[queue.ID]int{}}
	for range maxIdleReceipt {
		r.idle["hub-b"] = append(r.idle["hub-b"], &receiptConn{c: c, used: time.Now()})
	}
	r.putIdle("hub-b", c, d.st.Load())           // one too many: ended apart
	deadline := time.Now().Add(10 * time.Second) // a bound on the test, not a timing assertion
	for pc.count(PanicShadow) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the panic was not counted")
		}
		time.Sleep(2 * time.Millisecond)
	}
	for c.Noop() == nil { // closed by the recover
		if time.Now().After(deadline) {
			t.Fatal("the session the panic left is still open")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
