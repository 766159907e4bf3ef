package delivery

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// busyFirstHolders is a TakenDoneRecorder whose first batch names a
// message in delivery here (as queue.Manager reports it: counted, its
// notes kept to be applied later), and which records every batch.
type busyFirstHolders struct {
	holdersByDigest
	mu      sync.Mutex
	batches [][]queue.TakenDone
}

func (h *busyFirstHolders) ShadowFinishedElsewhere(_ string, notes []queue.TakenDone) ([]queue.FinishedElsewhere, int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches = append(h.batches, notes)
	if len(h.batches) == 1 {
		return nil, 1, nil
	}
	return nil, 0, nil
}

// SR-8, SR-15 (W-4's "repeats while n == max" for XQUERYTAKENDONE): a
// message in delivery here that the first batch of 500 notes names
// delays only its own notes. The probe used to end the session without
// a command at once, so the holder kept the batch and told the same 500
// at every probe: while that message was in delivery (a destination
// that hangs), no note past them was ever asked for. Now the queue keeps
// the busy record's notes (queue takendonewait.go), and the probe asks
// for the next batch and ends with QUIT, which lets the holder forget
// what it told; the probe is still reported unfinished (a note waits).
func TestProbeBusyRecordDelaysOnlyItsOwnNotes(t *testing.T) {
	var mu sync.Mutex
	var cmds []string
	asked := 0
	ehlo := "250-holder.test\r\n250 XSHADOW 15\r\n"
	addr := scriptedPeerLines(t, ehlo, func(line string) string {
		mu.Lock()
		defer mu.Unlock()
		cmd := strings.ToUpper(line)
		cmds = append(cmds, strings.Fields(cmd)[0])
		switch {
		case strings.HasPrefix(cmd, "XSHADOW "):
			return "250 db-b MARK=3\r\n"
		case strings.HasPrefix(cmd, "XQUERYTAKENDONE"):
			asked++
			switch asked {
			case 1: // a full batch: more to come
				var b strings.Builder
				b.WriteString(fmt.Sprintf("250-2.0.0 %d finished here\r\n", takenDoneBatch))
				for i := 0; i < takenDoneBatch; i++ {
					sep := "-"
					if i == takenDoneBatch-1 {
						sep = " "
					}
					fmt.Fprintf(&b, "250%s%032x RCPT=x@remote.example DELIVERED\r\n", sep, i+1)
				}
				return b.String()
			case 2:
				return "250-2.0.0 1 finished here\r\n250 0123456789abcdef0123456789abcdef RCPT=late@remote.example DELIVERED\r\n"
			}
			return "250 2.0.0 0 finished here\r\n"
		case cmd == "QUIT":
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: addr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := &busyFirstHolders{}
	r := NewReceiptShadow(d, "db-a").WithHolders(h)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := r.Probe(ctx, "hub-b")
	if db != "db-b" {
		t.Fatalf("probe read database id %q (err %v), want db-b", db, err)
	}
	h.mu.Lock()
	batches := h.batches
	h.mu.Unlock()
	var late bool
	for _, b := range batches {
		for _, n := range b {
			late = late || n.Addr == "late@remote.example"
		}
	}
	if !late {
		t.Fatalf("the note past the first batch was never recorded (%d batches): a message in delivery stopped every later note", len(batches))
	}
	// The session ends with QUIT once the server's reply lands (the
	// holder forgets what it told only then).
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		quit := len(cmds) > 0 && cmds[len(cmds)-1] == "QUIT"
		got := strings.Join(cmds, " ")
		mu.Unlock()
		if quit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe did not end with QUIT: %s", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("probe reported finished with a note waiting for a message in delivery")
	}
}
