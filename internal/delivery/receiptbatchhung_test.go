package delivery

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// hungBatchPeer is a shadow server of verb version 6 (batches) that
// takes sessions and then hangs at the first MAIL of each: it counts
// the MAIL commands it read.
func hungBatchPeer(t *testing.T, addr string) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mails atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				io.WriteString(c, "220 peer.test\r\n")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
					case strings.HasPrefix(cmd, "EHLO"):
						io.WriteString(c, "250-peer.test\r\n250-XSHADOW 6\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n")
					case strings.HasPrefix(cmd, "XSHADOW"):
						io.WriteString(c, "250 peer-database-1\r\n")
					case strings.HasPrefix(cmd, "MAIL"):
						mails.Add(1)
						io.Copy(io.Discard, r) // hung: never another reply
						return
					default:
						io.WriteString(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), &mails
}

// rt55 F3: copies queued behind a batch to a peer that hangs are not
// then pushed to that same peer as the next batch (a second bound for
// their senders, and a copy left on the hung peer): the batch's timeout
// answers them too, as a timed-out try, and the receive side moves
// each to the next candidate.
func TestReceiptCopiesQueuedBehindHungBatchNotSentToIt(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	defer func(n int) { maxInflight = n }(maxInflight)
	maxInflight = 1
	bAddr, mails := hungBatchPeer(t, "127.0.0.2:0")
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: bAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	open := func() smtp.ReceiptLink {
		link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
		if err != nil {
			t.Fatal(err)
		}
		return link
	}
	l1, l2 := open(), open()
	msg := func(id queue.ID, org string) *queue.Message {
		return &queue.Message{ID: id, OrgID: org, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	}
	body := queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n"))
	first := make(chan error, 1)
	go func() { first <- l1.Push(context.Background(), msg(1, "0123456789abcdef0123456789abcdef"), body) }()
	deadline := time.Now().Add(10 * time.Second)
	for mails.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if mails.Load() != 1 {
		t.Fatal("the first batch never reached the peer")
	}
	err2 := l2.Push(context.Background(), msg(2, "fedcba9876543210fedcba9876543210"), body) // queued behind the first
	err1 := <-first
	l1.Done(false)
	l2.Done(false)
	if !errors.Is(err1, smtp.ErrCopyTimedOut) || !errors.Is(err2, smtp.ErrCopyTimedOut) {
		t.Fatalf("pushes: %v / %v; want both ErrCopyTimedOut", err1, err2)
	}
	if n := mails.Load(); n != 1 {
		t.Fatalf("the hung peer read %d MAIL commands; want 1 (the copy queued behind its batch sent to it again)", n)
	}
}
