package delivery

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"umbra/internal/queue"
)

// refusingRecorder is a shadowRecorder that also records refused shadow
// sessions with the digest presented (shadow.Recorder.SessionRefused)
// and paces the WARN as the real one does: due at the first refusal only.
type refusingRecorder struct {
	shadowRecorder
	mu      sync.Mutex
	refused []string
	digests []string
}

func (r *refusingRecorder) SessionRefused(primary, session, reply, digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.digests = append(r.digests, digest)
	r.refused = append(r.refused, session+" "+reply)
	return len(r.refused) == 1
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A next hop that refuses XSHADOW gets the message without a shadow copy
// here: the operator sees it at WARN with the next hop's reply (paced by
// the shadow recorder, like the other refusals), and the refusal is
// recorded (shadow list, umbra_shadow_refused_sessions_total). It was
// logged only at INFO.
func TestRelayWithoutShadowCopyWarns(t *testing.T) {
	reply := "550 5.7.1 Not permitted to open a shadow session"
	addr := scriptedPrimary(t, func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "XSHADOW"):
			return reply + "\r\n"
		case strings.HasPrefix(cmd, "QUIT"):
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	rec := &refusingRecorder{}
	d := shadowDeliverer(t, addr, &rec.shadowRecorder)
	d.st.Load().cfg.Shadows = rec
	var logs logBuffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	for i := 0; i < 3; i++ {
		m := message("r@example.net")
		if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
			t.Fatalf("relay %d to a next hop refusing XSHADOW: %+v; want relayed without a copy", i, res)
		}
	}
	rec.mu.Lock()
	refused := append([]string(nil), rec.refused...)
	rec.mu.Unlock()
	// One refusal per session (a pooled session carries the next
	// messages without asking again).
	if len(refused) == 0 || refused[0] != "relay "+reply {
		t.Fatalf("refusals recorded: %q; want the relay's with the reply", refused)
	}
	// And the digest the primary advertised before it refused goes to
	// the recorder (a new database takes its copies over at once).
	rec.mu.Lock()
	digests := append([]string(nil), rec.digests...)
	rec.mu.Unlock()
	if len(digests) == 0 || digests[0] != queue.DatabaseDigest("primary-db") {
		t.Fatalf("digests presented: %q", digests)
	}
	out := logs.String()
	if n := strings.Count(out, `level=WARN msg="shadow session refused; relaying without it (no shadow copy here)"`); n != 1 || !strings.Contains(out, `reply="`+reply+`"`) {
		t.Fatalf("%d WARNs for %d refused shadow sessions, want 1 with the reply:\n%s", n, len(refused), out)
	}
}

// A relay to a transport server of the topology that offers no XSHADOW
// to this server (it sees the connection come from an address that is
// not this server's topology address nor one of its source_addresses)
// is a refused shadow session, not a non-shadow next hop: the verb is
// asked anyway, and the next hop's precise reply is logged at WARN and
// recorded as a refusal (counted, shown in shadow list). It went on
// silently without a shadow copy.
func TestRelayToHubOfferingNoXShadowIsRefusal(t *testing.T) {
	reply := "550 5.7.1 Server id does not match the connection's address"
	asked := make(chan string, 4)
	addr := scriptedPeer(t, "250-hub-b.test\r\n250 PIPELINING\r\n", func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "XSHADOW"):
			asked <- cmd
			return reply + "\r\n"
		case strings.HasPrefix(cmd, "QUIT"):
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	d := hubBDeliverer(t, addr)
	rec := &refusingRecorder{}
	d.st.Load().cfg.Shadows = rec
	var logs logBuffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	m := message("u@b.test")
	if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
		t.Fatalf("relay to a hub offering no XSHADOW: %+v; want relayed without a copy", res)
	}
	select {
	case cmd := <-asked:
		if cmd != "XSHADOW HUB-A" {
			t.Errorf("asked %q, want the bare verb with this server's id", cmd)
		}
	default:
		t.Fatal("XSHADOW not asked of a hub of the topology that did not offer it")
	}
	rec.mu.Lock()
	refused := append([]string(nil), rec.refused...)
	rec.mu.Unlock()
	if len(refused) != 1 || refused[0] != "relay "+reply {
		t.Fatalf("refusals recorded: %q; want the relay's with the hub's reply", refused)
	}
	out := logs.String()
	if !strings.Contains(out, `level=WARN msg="shadow session refused; relaying without it (no shadow copy here)"`) || !strings.Contains(out, reply) {
		t.Fatalf("no WARN with the hub's reply:\n%s", out)
	}
}
