package pickup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// pickupStore is a real transport database and queue manager whose
// deliveries never finish (the messages stay queued to be read back).
func pickupStore(t *testing.T) (*queue.Store, *queue.Manager, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	never := queue.DelivererFunc(func(_ context.Context, _ *queue.Message, _ []byte, rcpts []int) []queue.Result {
		res := make([]queue.Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = queue.Result{Rcpt: r, Outcome: queue.Deferred, Reply: "451 4.4.1 later"}
		}
		return res
	})
	clk := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	mgr := queue.NewManager(st, never, queue.ManagerConfig{Clock: clk, Hostname: "hub.test", RetrySchedule: []time.Duration{time.Hour}})
	return st, mgr, filepath.Join(dir, "spool")
}

// storedBody reads back a queued message's content, without the first
// header field (the trace field, which names the queue id and the time).
func storedBody(t *testing.T, st *queue.Store, id queue.ID) (content []byte, spooled bool) {
	t.Helper()
	var body queue.Body
	if err := st.View(func(tx *queue.Tx) error {
		var err error
		body, err = tx.BodyOf(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r, err := body.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("Received: from pickup directory\r\n\tby hub.test (umbra) with local id ")) {
		t.Fatalf("no trace field first: %q", b[:min(len(b), 120)])
	}
	// The trace field is three lines.
	for k := 0; k < 3; k++ {
		b = b[bytes.Index(b, []byte("\r\n"))+2:]
	}
	return b, body.Spooled()
}

func spoolNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// pickupFiles are files whose header edits, line ends and envelope
// headers the spooled path must treat as the in-memory path does.
func pickupFiles() map[string]string {
	long := strings.Repeat("body line with some text\n", 20000) // ~500 KiB
	return map[string]string{
		"lf": "X-Sender: app@example.org\nX-Receiver: <a@example.test>\nFrom: App <noreply@example.org>\nTo: x@else.example\n" +
			"Bcc: hidden@example.test\nSubject: hi\n\n" + long,
		"crlf-folded": "From: A <a@example.org>\r\nTo: B <b@example.test>,\r\n c@example.test\r\nSubject: folded\r\n\tsubject\r\n" +
			"X-Umbra-Org-Id: forged\r\nAuthentication-Results: hub.test; dkim=pass\r\nAuthentication-Results: other.example; spf=pass\r\n" +
			"Message-ID: <m1@example.org>\r\n\r\n" + strings.ReplaceAll(long, "\n", "\r\n"),
		"bare-cr": "X-Receiver: a@example.test\rSubject: cr\r\r" + strings.ReplaceAll(long, "\n", "\r") + "\r",
		"mixed":   "X-Receiver: a@example.test\r\nSubject: mixed\n\r\n" + strings.Repeat("a\rb\nc\r\nd\r\r\n\n", 40000) + "end\r",
	}
}

// TestPickupSpooledSameAsInMemory: a large pickup file goes through a
// spool file and queues exactly the bytes (and envelope) the in-memory
// path queues for the same file.
func TestPickupSpooledSameAsInMemory(t *testing.T) {
	st, mgr, spoolDir := pickupStore(t)
	for name, content := range pickupFiles() {
		var got [2][]byte
		var env [2]*queue.Message
		for k, spool := range []bool{false, true} {
			dir := t.TempDir()
			cfg := Config{Dir: dir, Hostname: "hub.test", Queue: mgr, AuthservIDs: []string{"hub.test"}}
			if spool {
				cfg.Spool, cfg.SpoolThreshold, cfg.MaxHeaderSize = st.NewSpool, 64<<10, 4096
			}
			w := New(cfg)
			path := filepath.Join(dir, name+".eml")
			os.WriteFile(path, []byte(content), 0o600)
			ctx, cancel := context.WithCancel(context.Background())
			w.Scan(ctx)
			cancel()
			w.wg.Wait()
			queued, _ := filepath.Glob(filepath.Join(dir, "*.queued"))
			if len(queued) != 1 {
				t.Fatalf("%s spool=%v: not submitted (%v)", name, spool, queued)
			}
			base := strings.TrimSuffix(filepath.Base(queued[0]), ".queued")
			id, err := queue.ParseID(base[strings.LastIndexByte(base, '.')+1:])
			if err != nil {
				t.Fatal(err)
			}
			var spooled bool
			got[k], spooled = storedBody(t, st, id)
			if spooled != spool {
				t.Errorf("%s: spooled=%v, want %v", name, spooled, spool)
			}
			st.View(func(tx *queue.Tx) error {
				m, err := tx.Get(id)
				env[k] = m
				return err
			})
		}
		if !bytes.Equal(got[0], got[1]) {
			i := 0
			for i < min(len(got[0]), len(got[1])) && got[0][i] == got[1][i] {
				i++
			}
			t.Errorf("%s: spooled content differs from in memory at byte %d of %d/%d: %q vs %q", name, i, len(got[0]), len(got[1]),
				got[0][i:min(len(got[0]), i+40)], got[1][i:min(len(got[1]), i+40)])
		}
		if env[0] == nil || env[1] == nil || env[0].From != env[1].From || len(env[0].Rcpts) != len(env[1].Rcpts) ||
			env[0].MessageID != env[1].MessageID || env[0].Size != env[1].Size {
			t.Errorf("%s: envelopes differ: %+v / %+v", name, env[0], env[1])
		}
	}
	if n := len(spoolNames(t, spoolDir)); n != len(pickupFiles()) {
		t.Errorf("spool directory holds %d files, want one per spooled message (%d)", n, len(pickupFiles()))
	}
}

// failingBodyQueue refuses every submission.
type failingBodyQueue struct{ fakeQueue }

func (q *failingBodyQueue) SubmitKeyedBody(context.Context, *queue.Message, queue.Body, string) (queue.ID, bool, error) {
	return 0, false, errors.New("disk full")
}

// TestPickupSpoolFileRemoved: a refused file (too large, no header/body
// separator, a header section over the limit, a malformed header) and a
// failed submission leave no spool file; the refused files are renamed
// .bad, the failed one stays to be tried again.
func TestPickupSpoolFileRemoved(t *testing.T) {
	st, mgr, spoolDir := pickupStore(t)
	big := strings.Repeat("x", 100<<10)
	for name, content := range map[string]string{
		"too-large":   "X-Receiver: a@example.test\n\n" + strings.Repeat(big, 11),
		"no-empty":    "X-Receiver: a@example.test\nSubject: x\n" + big,
		"long-header": "X-Receiver: a@example.test\nSubject: " + big + "\n\nhi\n",
		"malformed":   "X-Receiver: a@example.test\nno colon here\n\n" + big,
		"no-rcpt":     "Subject: x\n\n" + big,
	} {
		dir := t.TempDir()
		w := New(Config{Dir: dir, Hostname: "hub.test", Queue: mgr, MaxSize: 1 << 20,
			Spool: st.NewSpool, SpoolThreshold: 1024, MaxHeaderSize: 4096})
		os.WriteFile(filepath.Join(dir, name+".eml"), []byte(content), 0o600)
		w.Scan(context.Background())
		if _, err := os.Stat(filepath.Join(dir, name+".bad")); err != nil {
			t.Errorf("%s: not refused (%v)", name, err)
		}
		if got := spoolNames(t, spoolDir); len(got) != 0 {
			t.Fatalf("%s: spool files left: %v", name, got)
		}
	}
	dir := t.TempDir()
	q := &failingBodyQueue{fakeQueue{handed: map[queue.ID]chan struct{}{}}}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, Spool: st.NewSpool, SpoolThreshold: 1024})
	path := filepath.Join(dir, "m.eml")
	os.WriteFile(path, []byte("X-Receiver: a@example.test\n\n"+big), 0o600)
	w.Scan(context.Background())
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a file whose submission failed was not kept: %v", err)
	}
	if got := spoolNames(t, spoolDir); len(got) != 0 {
		t.Errorf("failed submission left spool files: %v", got)
	}
}

// TestPickupSpooledSubmittedAgain: a file submitted before a crash that
// came before it was marked is not queued twice, and the second copy's
// spool file is removed.
func TestPickupSpooledSubmittedAgain(t *testing.T) {
	st, mgr, spoolDir := pickupStore(t)
	dir := t.TempDir()
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: mgr, Spool: st.NewSpool, SpoolThreshold: 1024})
	w.rename = func(string, string) error { return errors.New("crash before the mark") }
	path := filepath.Join(dir, "m.eml")
	os.WriteFile(path, []byte("X-Receiver: a@example.test\n\n"+strings.Repeat("y", 200<<10)), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	w.Scan(ctx)
	cancel()
	w.wg.Wait()
	w.mu.Lock()
	w.busy = map[string]bool{} // as after a restart
	w.mu.Unlock()
	w.Scan(context.Background())
	if got := spoolNames(t, spoolDir); len(got) != 1 {
		t.Errorf("spool directory holds %v, want the one file of the one queued message", got)
	}
	n := 0
	st.View(func(tx *queue.Tx) error {
		tx.ForEach(func(*queue.Message, error) bool { n++; return true })
		return nil
	})
	if n != 1 {
		t.Errorf("%d messages queued, want 1", n)
	}
}

// TestCRLFWriterSameAsCRLF: the streaming line-end normaliser gives crlf's
// bytes whatever the pieces it is written in.
func TestCRLFWriterSameAsCRLF(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\r\n\r\na. ")
	for i := 0; i < 2000; i++ {
		in := make([]byte, r.IntN(300))
		for k := range in {
			in[k] = alphabet[r.IntN(len(alphabet))]
		}
		checkCRLFWriter(t, in, r.Uint64())
	}
	big := bytes.Repeat([]byte("line\r\nbare\nx\r"), 20000) // past the writer's buffer
	checkCRLFWriter(t, big, 7)
}

func checkCRLFWriter(t testing.TB, in []byte, seed uint64) {
	t.Helper()
	var out bytes.Buffer
	w := newCRLFWriter(&out)
	r := rand.New(rand.NewPCG(seed, 3))
	for rest := in; len(rest) > 0; {
		n := 1 + r.IntN(len(rest))
		w.Write(rest[:n])
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := crlf(in); !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("crlfWriter(%q) = %q, crlf: %q", in, out.Bytes(), want)
	}
}

func FuzzCRLFWriter(f *testing.F) {
	f.Add([]byte("a\r\nb\nc\rd\r\r\n\n\r"), uint64(1))
	f.Add([]byte("\r"), uint64(2))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) { checkCRLFWriter(t, in, seed) })
}

// SMTP-5 (README: "mail umbra received never has one (it puts the
// empty line there)"): a pickup file of header fields alone — no empty
// line, no body; its last line with or without its line end — is
// queued with the empty line after its last field, in memory and
// spooled alike, as the receive side queues such a message; never
// refused (.bad) nor queued without it (which the DKIM signer would
// send unsigned).
func TestPickupHeaderOnlyFileGetsEmptyLine(t *testing.T) {
	st, mgr, _ := pickupStore(t)
	for name, content := range map[string]string{
		"lf":     "X-Receiver: a@example.test\nFrom: b@example.org\nSubject: nosep\n",
		"crlf":   "X-Receiver: a@example.test\r\nFrom: b@example.org\r\nSubject: nosep\r\n",
		"no-end": "X-Receiver: a@example.test\nFrom: b@example.org\nSubject: nosep",
	} {
		for _, spool := range []bool{false, true} {
			dir := t.TempDir()
			cfg := Config{Dir: dir, Hostname: "hub.test", Queue: mgr}
			if spool {
				cfg.Spool, cfg.SpoolThreshold, cfg.MaxHeaderSize = st.NewSpool, 16, 4096
			}
			w := New(cfg)
			os.WriteFile(filepath.Join(dir, name+".eml"), []byte(content), 0o600)
			ctx, cancel := context.WithCancel(context.Background())
			w.Scan(ctx)
			cancel()
			w.wg.Wait()
			queued, _ := filepath.Glob(filepath.Join(dir, "*.queued"))
			if len(queued) != 1 {
				bad, _ := filepath.Glob(filepath.Join(dir, "*"))
				t.Fatalf("%s spool=%v: not queued (%v)", name, spool, bad)
			}
			base := strings.TrimSuffix(filepath.Base(queued[0]), ".queued")
			id, err := queue.ParseID(base[strings.LastIndexByte(base, '.')+1:])
			if err != nil {
				t.Fatal(err)
			}
			got, _ := storedBody(t, st, id)
			if !bytes.HasSuffix(got, []byte("From: b@example.org\r\nSubject: nosep\r\n\r\n")) {
				t.Errorf("%s spool=%v: stored %q, want the fields and the empty line", name, spool, got)
			}
		}
	}
}
