package delivery

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// shadowRecorder records what the shadow manager is told.
type shadowRecorder struct {
	mu        sync.Mutex
	contacts  [][]string
	presented [][]string
	dbs       []string
}

func (r *shadowRecorder) Contact(primary, dbID string, _ uint64, ids []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.contacts = append(r.contacts, ids)
	return nil
}

func (r *shadowRecorder) Presented(primary, dbID string, _ uint64, ids []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.presented, r.dbs = append(r.presented, ids), append(r.dbs, dbID)
	return nil
}

// scriptedPrimary is a primary on 127.0.0.1 that offers XSHADOW and
// answers each command with reply(cmd); an empty reply closes the
// connection. DATA is taken whole and answered 250.
func scriptedPrimary(t *testing.T, reply func(cmd string) string) string {
	t.Helper()
	return scriptedPrimaryAs(t, "XSHADOW", reply)
}

// scriptedPrimaryAs is scriptedPrimary offering the EHLO keyword keyword
// (a version: "XSHADOW 8").
func scriptedPrimaryAs(t *testing.T, keyword string, reply func(cmd string) string) string {
	t.Helper()
	return scriptedPeer(t, "250-primary.test\r\n250-XSHADOWDB "+queue.DatabaseDigest("primary-db")+"\r\n250 "+keyword+"\r\n", reply)
}

// scriptedPeer is scriptedPrimary with the given EHLO reply.
func scriptedPeer(t *testing.T, ehlo string, reply func(cmd string) string) string {
	t.Helper()
	return scriptedPeerLines(t, ehlo, func(line string) string { return reply(strings.ToUpper(line)) })
}

// scriptedPeerLines is scriptedPeer handing reply each command as it
// was sent (trimmed), not upper-cased.
func scriptedPeerLines(t *testing.T, ehlo string, reply func(line string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return scriptedPeerOn(t, ln, ehlo, reply)
}

// scriptedPeerOn is scriptedPeerLines serving on ln.
func scriptedPeerOn(t *testing.T, ln net.Listener, ehlo string, reply func(line string) string) string {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				c.Write([]byte("220 primary.test ESMTP\r\n"))
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimSpace(line)
					cmd := strings.ToUpper(line)
					var out string
					switch {
					case strings.HasPrefix(cmd, "EHLO"):
						out = ehlo
					case cmd == "DATA":
						c.Write([]byte("354 go on\r\n"))
						if _, err := testsupport.ReadData(r); err != nil {
							return
						}
						out = "250 2.0.0 queued\r\n"
					default:
						out = reply(line)
					}
					if out == "" {
						return
					}
					c.Write([]byte(out))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func shadowDeliverer(t *testing.T, addr string, rec *shadowRecorder) *Deliverer {
	sc := config.SendConnector{Name: "to-hub", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{addr}, TLS: config.TLSNone, SendXShadow: true}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	d.st.Load().cfg.ShadowServerID = "edge1"
	d.st.Load().cfg.Shadows = rec
	return d
}

// SR-5: the XSHADOW reply of a delivery session is no contact. A session
// that breaks before its discard query presents the database id only:
// the heartbeat timer is not reset, so a discard the primary committed
// after the last completed query is fetched by the next heartbeat.
func TestShadowSessionWithoutQueryIsNoContact(t *testing.T) {
	addr := scriptedPrimary(t, func(cmd string) string {
		if strings.HasPrefix(cmd, "XSHADOW") {
			return "250 primary-db\r\n"
		}
		return "" // MAIL: the connection breaks
	})
	rec := &shadowRecorder{}
	d := shadowDeliverer(t, addr, rec)
	m := message("r@example.net")
	if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.Deferred {
		t.Fatalf("a broken session: %+v", res)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.contacts) != 0 || len(rec.presented) != 1 || rec.dbs[0] != "primary-db" || rec.presented[0] != nil {
		t.Fatalf("contacts %v, presented %v %v", rec.contacts, rec.presented, rec.dbs)
	}
}

// SR-15: the primary forgets a batch of notifications when it is asked
// for the next; a query that breaks on the second batch applies the
// first (no contact), never drops it.
func TestBrokenQueryAppliesBatchesRead(t *testing.T) {
	var batch []string
	for i := 0; i < 1000; i++ {
		batch = append(batch, fmt.Sprintf("%016X-abcd", i+1))
	}
	var mu sync.Mutex
	queries := 0
	addr := scriptedPrimary(t, func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "XSHADOW"):
			return "250 primary-db\r\n"
		case strings.HasPrefix(cmd, "XQUERYDISCARD"):
			mu.Lock()
			queries++
			n := queries
			mu.Unlock()
			if n > 1 {
				return "" // the connection breaks on the second batch
			}
			var b strings.Builder
			fmt.Fprintf(&b, "250-2.0.0 %d discard notifications\r\n", len(batch))
			for i, id := range batch {
				sep := "-"
				if i == len(batch)-1 {
					sep = " "
				}
				b.WriteString("250" + sep + id + "\r\n")
			}
			return b.String()
		}
		return "250 2.0.0 ok\r\n"
	})
	rec := &shadowRecorder{}
	d := shadowDeliverer(t, addr, rec)
	m := message("r@example.net")
	if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.ShadowedOK {
		t.Fatalf("delivery: %+v", res)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.contacts) != 0 || len(rec.presented) != 2 || len(rec.presented[1]) != 1000 {
		t.Fatalf("contacts %d, presented %d (last %d ids)", len(rec.contacts), len(rec.presented), len(rec.presented[len(rec.presented)-1]))
	}
}
