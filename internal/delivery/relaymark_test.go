package delivery

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

// holdersByDigest is a HolderRecorder that knows one shadow server,
// name, by the database id recorded for it (db), with its rollback mark.
type holdersByDigest struct {
	name, db string
	mark     uint64
}

func (h *holdersByDigest) ShadowHolderSeen(server, dbID string) (int, string, error) {
	return 0, "", nil
}
func (h *holdersByDigest) ShadowHolderMark(server string) uint64 {
	if strings.EqualFold(server, h.name) {
		return h.mark
	}
	return 0
}
func (h *holdersByDigest) ShadowHolderByDigest(digest string) string {
	if digest != "" && digest == queue.DatabaseDigest(h.db) {
		return h.name
	}
	return ""
}

// markPeer is a primary on 127.0.0.1 speaking the shadow verbs of version
// 7, advertising the digest of database db; it records each XSHADOW
// command and answers it with db and mark 3.
func markPeer(t *testing.T, db string, got func(cmd string)) string {
	t.Helper()
	return markPeerOf(t, db, 7, got)
}

// markPeerOf is markPeer speaking the shadow verbs of version.
func markPeerOf(t *testing.T, db string, version int, got func(cmd string)) string {
	t.Helper()
	ehlo := "250-primary.test\r\n250-XSHADOWDB " + queue.DatabaseDigest(db) + "\r\n250 XSHADOW " + strconv.Itoa(version) + "\r\n"
	return scriptedPeerLines(t, ehlo, func(cmd string) string {
		if !strings.HasPrefix(strings.ToUpper(cmd), "XSHADOW ") {
			return "" // MAIL: the session ends here; the XSHADOW line is what counts
		}
		got(cmd)
		return "250 " + db + " MARK=3\r\n"
	})
}

// A relay's shadow session to a send connector's host (send_xshadow),
// which this server names by its host name, not as a server of the
// topology: when the host's advertised database digest is the one
// recorded for a server this server keeps marks for, the session
// presents that server's mark and this server's database id, so the
// primary records the database the relay's copy is kept in before the
// relayed message's commit — and does not take that copy for one lost
// with an older database and make it again.
func TestRelayToSendConnectorHostPresentsDatabase(t *testing.T) {
	var mu sync.Mutex
	var cmds []string
	addr := markPeer(t, "primary-db", func(cmd string) { mu.Lock(); cmds = append(cmds, cmd); mu.Unlock() })
	d := shadowDeliverer(t, addr, &shadowRecorder{})
	NewReceiptShadow(d, "self-db").WithHolders(&holdersByDigest{name: "hub-p", db: "primary-db", mark: 7})
	m := message("r@example.net")
	d.Deliver(context.Background(), m, body, all(m))
	mu.Lock()
	defer mu.Unlock()
	if len(cmds) != 1 || cmds[0] != "XSHADOW edge1 MARK=7 DB=self-db" {
		t.Fatalf("XSHADOW commands %q; want the mark kept for hub-p and this server's database id", cmds)
	}
}

// A host whose digest matches no server this server keeps marks for is
// asked for its mark only: a mark presented under a name it was never
// counted for could read as a rollback there.
func TestRelayToUnknownHostAsksMarkOnly(t *testing.T) {
	var mu sync.Mutex
	var cmds []string
	addr := markPeer(t, "other-db", func(cmd string) { mu.Lock(); cmds = append(cmds, cmd); mu.Unlock() })
	d := shadowDeliverer(t, addr, &shadowRecorder{})
	NewReceiptShadow(d, "self-db").WithHolders(&holdersByDigest{name: "hub-p", db: "primary-db", mark: 7})
	m := message("r@example.net")
	d.Deliver(context.Background(), m, body, all(m))
	mu.Lock()
	defer mu.Unlock()
	if len(cmds) != 1 || cmds[0] != "XSHADOW edge1 MARK" {
		t.Fatalf("XSHADOW commands %q; want the mark asked for only", cmds)
	}
}

// The shadow server's own sessions to a primary (heartbeats, watch,
// reconciliation) present this server's database id and the mark kept
// for the primary, as its relays to it do: a primary that holds copies
// this server pushed, or messages it relayed, learns from any of them
// that this server came back with a new database (a restore, a lost
// data_dir), not only from the next relay.
func TestPrimarySessionsPresentDatabase(t *testing.T) {
	for _, kind := range []string{"heartbeat", "watch", "reconcile"} {
		t.Run(kind, func(t *testing.T) {
			var mu sync.Mutex
			var cmds []string
			addr := markPeer(t, "primary-db", func(cmd string) { mu.Lock(); cmds = append(cmds, cmd); mu.Unlock() })
			d := shadowDeliverer(t, addr, &shadowRecorder{})
			NewReceiptShadow(d, "self-db").WithHolders(&holdersByDigest{name: "hub-p", db: "primary-db", mark: 7})
			save := func(string, uint64, []string, bool) error { return nil }
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			switch kind {
			case "heartbeat":
				d.Heartbeat(ctx, "hub-p", addr, save)
			case "watch":
				d.Watch(ctx, "hub-p", addr, save, func() bool { return true })
			case "reconcile":
				d.Reconcile(ctx, "hub-p", addr, []string{"x"}, save)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(cmds) != 1 || cmds[0] != "XSHADOW edge1 MARK=7 DB=self-db" {
				t.Fatalf("XSHADOW commands %q; want the mark kept for hub-p and this server's database id", cmds)
			}
		})
	}
}

// A primary of version 10 whose digest matches no server this server
// keeps marks for (a new database: a restore, a lost data_dir, a new
// host) gets this server's database id without a mark: it records the
// database the relay's copy is kept in before the relayed message's
// commit, so that losing that database later is noticed there.
func TestRelayToUnknownHostPresentsDatabaseAlone(t *testing.T) {
	var mu sync.Mutex
	var cmds []string
	addr := markPeerOf(t, "new-db", 10, func(cmd string) { mu.Lock(); cmds = append(cmds, cmd); mu.Unlock() })
	d := shadowDeliverer(t, addr, &shadowRecorder{})
	NewReceiptShadow(d, "self-db").WithHolders(&holdersByDigest{name: "hub-p", db: "primary-db", mark: 7})
	m := message("r@example.net")
	d.Deliver(context.Background(), m, body, all(m))
	mu.Lock()
	defer mu.Unlock()
	if len(cmds) != 1 || cmds[0] != "XSHADOW edge1 MARK DB=self-db" {
		t.Fatalf("XSHADOW commands %q; want this server's database id without a mark", cmds)
	}
}
