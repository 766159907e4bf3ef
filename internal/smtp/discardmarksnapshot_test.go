package smtp

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// SR-17, SR-3 (sr1749): the MARK= of an XQUERYDISCARD reply proves every
// copy whose discard the reply lists. The holder keeps a discard that
// came before its copy under that mark, and lets it settle the copy only
// when the copy's own mark (its commit's at the primary) is not above
// it; a copy above it is taken for a new one, kept, and the discard
// forgotten (queue earlystale.go). Read before the listing, in a read of
// its own, the mark missed a copy committed between the two whose
// message was delivered at once: a result set aside (result_commit_delay)
// is committed by the query itself (commitAside) before the listing, so
// its discard was listed under a mark below its copy's. The holder then
// kept the copy, still on its way, while the primary forgot the discard
// it had handed: a copy no discard would ever settle, taken over and
// delivered a second time when the primary was lost (CI run 164,
// TestSR17RepeatPushAfterCutReplyPrimaryDeliversFirst/batch).
//
// Here the primary's record of the copy (its commit raising hub2's
// counter) and the discard of its delivery are one writer set aside when
// the query comes: the reply must list that discard under a mark no
// lower than the copy's.
func TestQueryDiscardMarkCoversListedCopies(t *testing.T) {
	// Every form a holder asks in: the partial, hand-back and delay-note
	// listings of later versions, and a watch session's long poll (its
	// wait commits what is set aside before it looks, so here the
	// writer lands before the mark is read either way; in the daemon a
	// result set aside after that look lands in the listing's commit
	// as in the plain query).
	for _, query := range []string{"XQUERYDISCARD 10", "XQUERYDISCARD 10 WAIT=1", "XQUERYDISCARD 10 PARTIAL",
		"XQUERYDISCARD 10 WAIT=1 PARTIAL TAKEOVER", "XQUERYDISCARD 10 PARTIAL TAKEOVER DELAYED"} {
		t.Run(query, func(t *testing.T) { queryDiscardMarkCoversListedCopies(t, query) })
	}
}

func queryDiscardMarkCoversListedCopies(t *testing.T, query string) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{DeferLimit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	s := startShadowServer(t, q, q, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK", "250")
	newCopy := func(org string) *queue.Message {
		return &queue.Message{ID: q.NewID(), From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "x@remote.example"}},
			State: queue.Ready, OrgID: org, ShadowServer: "hub2", ShadowID: org, Arrived: time.Now()}
	}
	body := []byte("Subject: x\r\n\r\nhello\r\n")
	// A copy made before: the mark is 1 when the query comes.
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(newCopy(orgid.New()), body) }); err != nil {
		t.Fatal(err)
	}

	// A message copied on hub2 and delivered at once: its commit (the
	// counter raised) and its results (the discard owed) set aside,
	// waiting for the next commit — the one the query makes.
	org := orgid.New()
	m := newCopy(org)
	committed := make(chan error, 1)
	var copyMark uint64
	st.UpdateLater(func(tx *queue.Tx) error {
		if err := tx.PutNew(m, body); err != nil {
			return err
		}
		copyMark = m.HolderMark
		return tx.AddDiscard("hub2", org, time.Now())
	}, func(err error) { committed <- err })

	got := d.cmd(query, "250")
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, org) {
		t.Fatalf("XQUERYDISCARD reply %q: want the discard of %s, committed by the query before its listing", got, org)
	}
	mm := regexp.MustCompile(`MARK=(\d+)`).FindStringSubmatch(got)
	if mm == nil {
		t.Fatalf("XQUERYDISCARD reply %q: no MARK=", got)
	}
	mark, _ := strconv.ParseUint(mm[1], 10, 64)
	if copyMark < 2 || mark < copyMark {
		t.Fatalf("XQUERYDISCARD reply %q lists the discard of a copy whose mark is %d under MARK=%d: the holder would keep that copy, still on its way, as a new one, and no discard would ever settle it", got, copyMark, mark)
	}
	d.cmd("QUIT", "221")
}

// The queue the daemon passes as its shadow verbs lists with the mark.
var _ MarkedDiscarder = (*queue.Manager)(nil)
