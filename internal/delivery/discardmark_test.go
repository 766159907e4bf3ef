package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

// discardMarkPrimary is a primary of shadow verbs 7 on 127.0.0.122:port
// whose first XQUERYDISCARD reply of a session lists one notification
// under mark 7 and every later one none under mark 8.
func discardMarkPrimary(t *testing.T, port int) string {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.122:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	ehlo := "250-primary.test\r\n250-XSHADOWDB " + queue.DatabaseDigest("primary-db") + "\r\n250 XSHADOW 7\r\n"
	var mu sync.Mutex
	queried := map[string]bool{} // by the session's XSHADOW line: one session each below
	var session string
	return scriptedPeerOn(t, ln, ehlo, func(line string) string {
		cmd := strings.ToUpper(line)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(cmd, "XSHADOW "):
			session = line
			return "250 primary-db MARK=3\r\n"
		case strings.HasPrefix(cmd, "XQUERYDISCARD"):
			if !queried[session] {
				queried[session] = true
				return "250-2.0.0 1 discard notifications MARK=7\r\n250 a-1\r\n"
			}
			return "250 2.0.0 0 discard notifications MARK=8\r\n"
		case cmd == "QUIT":
			return "221 2.0.0 bye\r\n"
		}
		return ""
	})
}

// SR-17, earlymark40: a shadow server's sessions to a primary save each
// batch of discard notifications with the rollback mark of the reply
// that listed it (read at the primary after the discards it lists): the
// mark they were made under, which an early one is kept under (queue
// AddEarlyDiscard) — not a mark stored since by another session's copy.
// The heartbeat's and the watch session's batches alike.
func TestDiscardBatchSavedWithItsReplyMark(t *testing.T) {
	for i, kind := range []string{"heartbeat", "watch"} {
		t.Run(kind, func(t *testing.T) {
			addr := discardMarkPrimary(t, 7512+i)
			d := shadowDeliverer(t, addr, &shadowRecorder{})
			var mu sync.Mutex
			var saved []string
			save := func(db string, mark uint64, ids []string, contact bool) error {
				mu.Lock()
				defer mu.Unlock()
				if len(ids) > 0 || contact {
					saved = append(saved, fmt.Sprintf("%s %d %v", db, mark, ids))
				}
				return nil
			}
			more := func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(saved) == 0
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			var want []string
			switch kind {
			case "heartbeat":
				err = d.Heartbeat(ctx, "hub-p", addr, save)
				want = []string{"primary-db 7 [a-1]"}
			case "watch":
				err = d.Watch(ctx, "hub-p", addr, save, more)
				want = []string{"primary-db 7 [a-1]", "primary-db 8 []"}
			}
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(saved) != fmt.Sprint(want) {
				t.Fatalf("saved %q, want %q", saved, want)
			}
		})
	}
}
