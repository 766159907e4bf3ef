package msgauth

import (
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// blankReader is n bytes of CRLF then tail: a large body the test does
// not hold.
type blankReader struct {
	n, off int
	tail   string
	onRead func(off int) // called before each read with the bytes read so far
}

func (b *blankReader) Read(p []byte) (int, error) {
	if b.onRead != nil {
		b.onRead(b.off)
	}
	k := 0
	for k < len(p) {
		switch {
		case b.off < b.n:
			p[k] = "\r\n"[b.off%2]
		case b.off < b.n+len(b.tail):
			p[k] = b.tail[b.off-b.n]
		default:
			if k == 0 {
				return 0, io.EOF
			}
			return k, nil
		}
		k++
		b.off++
	}
	return k, nil
}

// twoSignatures is a message signed twice (the library verifies them in
// parallel) whose body, in the spool file, is n bytes of empty lines and
// then content.
func twoSignatures(t *testing.T) (fields []field, head []byte, recs map[string]string) {
	k := edKey(t)
	recs = map[string]string{"sel._domainkey.origin.test": k.record}
	small := plain + "\r\nend\r\n"
	msg := dkimSign(t, small, "origin.test", "sel", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	msg = dkimSign(t, msg, "origin.test", "sel", k, dkim.CanonicalizationSimple, dkim.CanonicalizationSimple)
	fields, body := splitHeader([]byte(msg))
	return fields, []byte(msg[:len(msg)-len(body)]), recs
}

// goroutinesBack waits (at most 2 s) for the goroutine count to fall to n.
func goroutinesBack(n int) int {
	got := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); got > n && time.Now().Before(deadline); got = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	return got
}

// A spooled body with a long run of empty lines is not canonicalised by
// the DKIM library, which would hold the whole run per signature until
// content follows: the signatures are permerror, not verified, and
// verification allocates little whatever the run's length.
func TestDKIMLongEmptyRunNotVerified(t *testing.T) {
	fields, head, recs := twoSignatures(t)
	const run = 8 << 20
	g0 := runtime.NumGoroutine()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := verifyDKIMRest(context.Background(), fakeTXT(recs), fields, head, func() (io.ReadCloser, error) {
		return io.NopCloser(&blankReader{n: run, tail: "end\r\n"}), nil
	}, 5)
	runtime.ReadMemStats(&after)
	if len(res) != 2 {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if r.value != "permerror" || !strings.Contains(r.reason, "empty lines") {
			t.Errorf("result %+v, want permerror for the run of empty lines", r)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > run/4 {
		t.Errorf("verifying over %d bytes of empty lines allocated %d bytes", run, alloc)
	}
	if n := goroutinesBack(g0); n > g0 {
		t.Errorf("%d goroutines left running after the verification (%d before)", n, g0)
	}
	// A run under the limit is verified as before (here: the body is not
	// the signed one, so the hash does not match).
	res = verifyDKIMRest(context.Background(), fakeTXT(recs), fields, head, func() (io.ReadCloser, error) {
		return io.NopCloser(&blankReader{n: maxEmptyRun / 2, tail: "end\r\n"}), nil
	}, 5)
	for _, r := range res {
		if r.value != "fail" || !strings.Contains(r.reason, "body hash") {
			t.Errorf("short run: %+v, want a body hash failure", r)
		}
	}
}

// A verification cut off (time up, session ended) while the library
// verifies several signatures in parallel leaves no goroutine behind
// (the library's parallel verifier abandoned its readers when the body
// reader failed).
func TestDKIMCutOffLeavesNoGoroutine(t *testing.T) {
	fields, head, recs := twoSignatures(t)
	g0 := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := verifyDKIMRest(ctx, fakeTXT(recs), fields, head, func() (io.ReadCloser, error) {
		return io.NopCloser(&blankReader{n: 2, tail: strings.Repeat("content line\r\n", 100000), onRead: func(off int) {
			if off > 200<<10 {
				cancel() // the session ends while the body streams
			}
		}}), nil
	}, 5)
	if len(res) != 2 || res[0].value != "temperror" || res[1].value != "temperror" {
		t.Fatalf("results %+v, want temperror (cut off)", res)
	}
	if n := goroutinesBack(g0); n > g0 {
		t.Errorf("%d goroutines left running after the cut-off verification (%d before)", n, g0)
	}
}
