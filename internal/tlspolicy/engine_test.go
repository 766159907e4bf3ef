package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// policyHost serves one policy file over HTTPS for mta-sts.<domain> and
// counts the requests.
type policyHost struct {
	mu    sync.Mutex
	body  string
	gets  int
	port  int
	roots *x509.CertPool
}

func (h *policyHost) set(body string) { h.mu.Lock(); h.body = body; h.mu.Unlock() }
func (h *policyHost) count() int      { h.mu.Lock(); defer h.mu.Unlock(); return h.gets }

func startPolicyHost(t *testing.T, domain string) *policyHost {
	ca, caKey := cert(t, "CA", nil, nil, true, time.Now().Add(time.Hour))
	leaf, key := cert(t, "mta-sts."+domain, ca, caKey, false, time.Now().Add(time.Hour))
	h := &policyHost{roots: x509.NewCertPool()}
	h.roots.AddCert(ca)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.gets++
		body := h.body
		h.mu.Unlock()
		if body == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(body))
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	h.port = ln.Addr().(*net.TCPAddr).Port
	return h
}

type resultLog struct {
	mu  sync.Mutex
	got []string
}

func (r *resultLog) Result(domain, policyType, mx, resultType string) {
	r.mu.Lock()
	r.got = append(r.got, domain+" "+policyType+" "+resultType)
	r.mu.Unlock()
}

const enforceSTS = "version: STSv1\nmode: enforce\nmx: mx.s.test\nmax_age: 86400\n"

// A failed fetch is not retried for the same TXT id within fetchBackoff,
// but a new id (the domain fixed and republished its policy) is fetched
// at once (RFC 8461 §3.3: retries limited per version id); route
// explain shows the failure while it stands.
func TestSTSFetchRetriedWhenIDChanges(t *testing.T) {
	h := startPolicyHost(t, "s.test")
	dns := dnstest.Start(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.s.test. 300 IN A 127.0.0.1", "s.test. 300 IN MX 10 mx.s.test.")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	rep := &resultLog{}
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: h.roots, HTTPSPort: h.port, FetchTimeout: 5 * time.Second, Clock: clk, Report: rep})
	ctx := context.Background()

	if p, _ := eng.STS(ctx, "s.test"); p != nil || h.count() != 1 {
		t.Fatalf("policy %+v after a 404, %d requests", p, h.count())
	}
	ex := eng.Explain(ctx, "s.test", "opportunistic", 25)
	if h.count() != 1 || ex.STSFailure == nil || ex.STSFailure.ID != "1" || !strings.Contains(ex.STSFailure.Err, "404") {
		t.Fatalf("explain during the pause: %+v (%d requests)", ex.STSFailure, h.count())
	}
	h.set(enforceSTS)
	clk.Advance(time.Minute)
	if p, _ := eng.STS(ctx, "s.test"); p != nil || h.count() != 1 {
		t.Fatalf("same id fetched again within the pause: %+v, %d requests", p, h.count())
	}
	dns.Remove("_mta-sts.s.test.")
	dns.Add(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=2"`)
	p, _ := eng.STS(ctx, "s.test")
	if p == nil || p.ID != "2" || p.Mode != ModeEnforce || h.count() != 2 {
		t.Fatalf("new id: %+v, %d requests", p, h.count())
	}
	if _, ok := eng.LastFetchFailure("s.test"); ok {
		t.Fatal("failure still shown after a successful fetch")
	}
	if ex := eng.Explain(ctx, "s.test", "opportunistic", 25); ex.STSFailure != nil || ex.STS == nil {
		t.Fatalf("explain after the fetch: %+v %+v", ex.STS, ex.STSFailure)
	}
	if len(rep.got) != 0 { // a fetch is no session: delivery counts the failure per session (rt18a F4)
		t.Fatalf("reported %q", rep.got)
	}

	// A domain that withdraws its record has no failing policy either.
	eng2 := New(Config{Resolver: res, MTASTS: true, RootCAs: h.roots, HTTPSPort: h.port, FetchTimeout: 5 * time.Second, Clock: clk})
	h.set("")
	dns.Remove("_mta-sts.s.test.")
	dns.Add(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=3"`)
	eng2.STS(ctx, "s.test")
	if _, ok := eng2.LastFetchFailure("s.test"); !ok {
		t.Fatal("failed fetch not recorded")
	}
	dns.Remove("_mta-sts.s.test.")
	if p, _ := eng2.STS(ctx, "s.test"); p != nil {
		t.Fatalf("policy %+v", p)
	}
	if f, ok := eng2.LastFetchFailure("s.test"); ok {
		t.Fatalf("failure kept after the record was withdrawn: %+v", f)
	}
}

// A new policy version that does not parse (a negative max_age) is a
// failed fetch: the valid cached policy stays in force (RFC 8461 §3.2,
// §5.1), route explain shows the failure, and a huge max_age is capped,
// not refused.
func TestSTSBrokenNewPolicyKeepsCached(t *testing.T) {
	h := startPolicyHost(t, "s.test")
	h.set(strings.Replace(enforceSTS, "86400", "999999999999", 1))
	dns := dnstest.Start(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.s.test. 300 IN A 127.0.0.1", "s.test. 300 IN MX 10 mx.s.test.")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	rep := &resultLog{}
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: h.roots, HTTPSPort: h.port, FetchTimeout: 5 * time.Second, Clock: clk, Report: rep})
	ctx := context.Background()
	p, _ := eng.STS(ctx, "s.test")
	if p == nil || p.MaxAge != maxMaxAge || p.Mode != ModeEnforce {
		t.Fatalf("huge max_age: %+v", p)
	}
	h.set(strings.Replace(enforceSTS, "86400", "-1", 1))
	dns.Remove("_mta-sts.s.test.")
	dns.Add(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=2"`)
	p, _ = eng.STS(ctx, "s.test")
	if p == nil || p.ID != "1" || p.Mode != ModeEnforce {
		t.Fatalf("broken new version replaced the cached policy: %+v", p)
	}
	f, ok := eng.LastFetchFailure("s.test")
	if !ok || f.ID != "2" || !strings.Contains(f.Err, "max_age") {
		t.Fatalf("failure %+v %v", f, ok)
	}
	if ex := eng.Explain(ctx, "s.test", "opportunistic", 25); ex.STS == nil || ex.STS.ID != "1" || ex.STSFailure == nil {
		t.Fatalf("explain: %+v %+v", ex.STS, ex.STSFailure)
	}
	if len(rep.got) != 0 { // the cached policy applied: nothing to report for the fetch
		t.Fatalf("reported %q", rep.got)
	}
	// Without a cached policy the invalid one is the failure its
	// sessions are reported under (delivery), as such; the fetch
	// itself reports nothing.
	eng2 := New(Config{Resolver: res, MTASTS: true, RootCAs: h.roots, HTTPSPort: h.port, FetchTimeout: 5 * time.Second, Clock: clk, Report: rep})
	if p, _ := eng2.STS(ctx, "s.test"); p != nil || len(rep.got) != 0 {
		t.Fatalf("%+v reported %q", p, rep.got)
	}
	if f, ok := eng2.LastFetchFailure("s.test"); !ok || f.Result != "sts-policy-invalid" {
		t.Fatalf("failure %+v %v", f, ok)
	}
}

// umbra_tls_policy_cached counts the policies in force, not expired
// entries (max_age 0, or past it) left in the transport database.
func TestCachedValidCountsOnlyUnexpired(t *testing.T) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	ctx := context.Background()
	for d, age := range map[string]time.Duration{"live.test": time.Hour, "zero.test": 0, "old.test": time.Minute} {
		p := &STSPolicy{Mode: ModeEnforce, MX: []string{"mx." + d}, MaxAge: age, ID: "1", Fetched: clk.Now().Add(-2 * time.Minute)}
		if err := st.PutTLSPolicy(ctx, d, p.encode()); err != nil {
			t.Fatal(err)
		}
	}
	eng := New(Config{MTASTS: true, Store: st, Clock: clk})
	if n := eng.CachedValid(); n != 1 {
		t.Fatalf("%d valid cached policies, want 1", n)
	}
}

// TestExplainNamesTheLookupThatHung: the MTA-STS TXT lookup never
// answers and takes the explain's time; the MX lookup, which would have
// been answered, is not blamed for it: the explanation names the TXT
// lookup.
func TestExplainNamesTheLookupThatHung(t *testing.T) {
	dns := dnstest.Start(t, "s.test. 300 IN MX 10 mx.s.test.", "mx.s.test. 300 IN A 127.0.0.2")
	dns.Drop("_mta-sts.s.test")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 5 * time.Second, Attempts: 1})
	eng := New(Config{Resolver: res, MTASTS: true, FetchTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ex := eng.Explain(ctx, "s.test", "opportunistic", 25)
	if strings.HasPrefix(ex.Error, "MX lookup:") || !strings.Contains(ex.Error, "MTA-STS TXT lookup") {
		t.Fatalf("explain error %q: want the MTA-STS TXT lookup named, not the MX lookup", ex.Error)
	}
}
