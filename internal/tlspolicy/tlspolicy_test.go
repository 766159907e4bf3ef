package tlspolicy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

func TestParsePolicy(t *testing.T) {
	for _, c := range []struct {
		in   string
		ok   bool
		mode string
		mx   int
		age  time.Duration
	}{
		{"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n", true, "enforce", 2, 604800 * time.Second},
		{"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 86400", true, "testing", 1, 86400 * time.Second},
		{"version: STSv1\nmode: none\nmax_age: 1\n", true, "none", 0, time.Second},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n", true, "enforce", 1, maxMaxAge},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 999999999999999999999999\n", true, "enforce", 1, maxMaxAge},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: +5\n", false, "", 0, 0},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1.5\n", false, "", 0, 0},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", true, "enforce", 1, maxMaxAge},
		{"version: STSv1\nmode: enforce\nmax_age: 86400\n", false, "", 0, 0},                 // no mx
		{"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 86400\n", false, "", 0, 0},  // version
		{"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 86400\n", false, "", 0, 0},   // mode
		{"version: STSv1\nmode: enforce\nmode: none\nmx: a\nmax_age: 1\n", false, "", 0, 0},  // repeated
		{"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 86400\n", false, "", 0, 0}, // bad mx
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", false, "", 0, 0},     // negative
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nextension: x\n", true, "enforce", 1, 86400 * time.Second},
		{"garbage", false, "", 0, 0},
	} {
		p, err := ParsePolicy([]byte(c.in))
		if (err == nil) != c.ok {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if c.ok && (p.Mode != c.mode || len(p.MX) != c.mx || p.MaxAge != c.age) {
			t.Errorf("%q: %+v", c.in, p)
		}
	}
}

func TestMatchMX(t *testing.T) {
	p := &STSPolicy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "mx1.example.net": true,
		"a.b.example.net": false, "example.net": false, "other.example.com": false,
	} {
		if p.MatchMX(host) != want {
			t.Errorf("MatchMX(%q) = %v", host, !want)
		}
	}
}

func TestParseRecords(t *testing.T) {
	if id, err := ParseSTSRecord("v=STSv1; id=20160831085700Z;"); err != nil || id != "20160831085700Z" {
		t.Errorf("sts record: %q %v", id, err)
	}
	for _, bad := range []string{"v=STSv2; id=1", "v=STSv1;", "v=STSv1; id=a-b", "id=1; v=STSv1"} {
		if _, err := ParseSTSRecord(bad); err == nil {
			t.Errorf("sts record %q accepted", bad)
		}
	}
	rua, err := ParseRPTRecord("v=TLSRPTv1; rua=mailto:tls@example.com!10m,https://r.example/x,mailto:b@example.org")
	if err != nil || len(rua) != 2 || rua[0] != "tls@example.com" || rua[1] != "b@example.org" {
		t.Errorf("rpt record: %q %v", rua, err)
	}
	for _, bad := range []string{"v=TLSRPTv2; rua=mailto:a@b", "v=TLSRPTv1; rua=https://x", "v=TLSRPTv1; rua=mailto:<a@b>"} {
		if _, err := ParseRPTRecord(bad); err == nil {
			t.Errorf("rpt record %q accepted", bad)
		}
	}
}

func TestCachedPolicyRoundTrip(t *testing.T) {
	p := &STSPolicy{Mode: ModeEnforce, MX: []string{"a.example", "*.b.example"}, MaxAge: time.Hour, ID: "x1", Fetched: time.Unix(1700000000, 5)}
	q, err := decodeSTS(p.encode())
	if err != nil || q.Mode != p.Mode || q.MaxAge != p.MaxAge || q.ID != p.ID || !q.Fetched.Equal(p.Fetched) || len(q.MX) != 2 {
		t.Fatalf("%+v %v", q, err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		if p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone || p.MaxAge < 0 || p.MaxAge > maxMaxAge {
			t.Fatalf("accepted %+v", p)
		}
		// what is cached reads back the same
		q, err := decodeSTS(p.encode())
		if err != nil || q.Mode != p.Mode || len(q.MX) != len(p.MX) {
			t.Fatalf("cache round trip: %+v %v", q, err)
		}
		for _, m := range p.MX {
			p.MatchMX(m)
		}
	})
}

func FuzzParseRecords(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=TLSRPTv1; rua=mailto:tls@example.com!10m,https://r.example/x")
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := ParseSTSRecord(s); err == nil && (id == "" || len(id) > 32) {
			t.Fatalf("id %q", id)
		}
		if rua, err := ParseRPTRecord(s); err == nil {
			for _, a := range rua {
				if strings.ContainsAny(a, "<>\r\n, ") || !strings.Contains(a, "@") {
					t.Fatalf("address %q", a)
				}
			}
		}
	})
}

type submitted struct {
	from, key string
	to        []string
	body      []byte
}

// The day's counters are stored (and survive a restart), the report is
// sent to the rua of _smtp._tls the next day as RFC 8460's multipart
// report with the gzip'd JSON, once, and the counters are then gone.
func TestTLSReportSentDaily(t *testing.T) {
	dns := dnstest.Start(t, `_smtp._tls.dest.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@dest.test"`)
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	path := filepath.Join(t.TempDir(), "queue.db")
	st, err := queue.Open(path, queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	var sent []submitted
	mk := func(st *queue.Store) *Counter {
		return NewCounter(RPTConfig{Store: st, Resolver: res, Clock: clk, OrgName: "Umbra Test", Contact: "postmaster@umbra.test",
			From: "tlsrpt@umbra.test", Hostname: "hub.umbra.test",
			Submit: func(_ context.Context, from string, to []string, body []byte, key string) error {
				sent = append(sent, submitted{from, key, to, body})
				return nil
			}})
	}
	c := mk(st)
	c.Result("dest.test", PolicySTS, "mx1.dest.test", "")
	c.Result("dest.test", PolicySTS, "mx1.dest.test", "")
	c.Result("dest.test", PolicySTS, "mx2.dest.test", "certificate-expired")
	c.Result("norpt.test", PolicyNotFound, "mx.norpt.test", "")
	ctx := context.Background()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// restart: the counters are in the database
	st.Close()
	st, err = queue.Open(path, queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c = mk(st)
	c.Result("dest.test", PolicySTS, "mx1.dest.test", "")
	if got, _ := c.Stored("2026-11-30", "dest.test"); got[PolicySTS] != [2]int64{2, 1} {
		t.Fatalf("stored after restart: %v", got)
	}
	if n, err := c.SendDue(ctx); n != 0 || err != nil {
		t.Fatalf("sent %d reports on the day itself (%v)", n, err)
	}
	clk.Advance(24 * time.Hour)
	if n, err := c.SendDue(ctx); n != 1 || err != nil {
		t.Fatalf("sent %d reports the next day (%v)", n, err)
	}
	if len(sent) != 1 || sent[0].to[0] != "tlsrpt@dest.test" || sent[0].key != "tlsrpt:2026-11-30:dest.test" {
		t.Fatalf("sent %+v", sent)
	}
	rep := decodeReport(t, sent[0].body)
	if rep.OrganizationName != "Umbra Test" || rep.DateRange.Start != "2026-11-30T00:00:00Z" || len(rep.Policies) != 1 {
		t.Fatalf("report %+v", rep)
	}
	p := rep.Policies[0]
	if p.Policy.PolicyType != "sts" || p.Policy.PolicyDomain != "dest.test" || p.Summary.Success != 3 || p.Summary.Failure != 1 ||
		len(p.FailureDetails) != 1 || p.FailureDetails[0].ResultType != "certificate-expired" || p.FailureDetails[0].ReceivingMX != "mx2.dest.test" {
		t.Fatalf("policy %+v", p)
	}
	if recs, _ := st.TLSReports(""); len(recs) != 0 {
		t.Fatalf("counters left after the report: %+v", recs)
	}
	if n, _ := c.SendDue(ctx); n != 0 {
		t.Fatal("a report sent twice")
	}
}

func decodeReport(t *testing.T, body []byte) Report {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("TLS-Report-Domain") != "dest.test" || msg.Header.Get("TLS-Report-Submitter") != "hub.umbra.test" {
		t.Fatalf("headers %v", msg.Header)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("content type %q %v", mt, params)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no report part: %v", err)
		}
		if part.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			continue
		}
		zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := io.ReadAll(zr)
		var rep Report
		if err := json.Unmarshal(js, &rep); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		return rep
	}
}

// umbra tls report: the pending report of a day is shown as it would be
// sent (counts so far, rua); a day that is not over is not sent; a past
// day sent now is sent once — the hourly run finds nothing left.
func TestTLSReportPendingAndSendDay(t *testing.T) {
	dns := dnstest.Start(t, `_smtp._tls.dest.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@dest.test"`)
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	var sent []submitted
	c := NewCounter(RPTConfig{Store: st, Resolver: res, Clock: clk, OrgName: "Umbra Test", From: "tlsrpt@umbra.test", Hostname: "hub.umbra.test",
		Submit: func(_ context.Context, from string, to []string, body []byte, key string) error {
			sent = append(sent, submitted{from, key, to, body})
			return nil
		}})
	ctx := context.Background()
	c.Result("dest.test", PolicySTS, "mx1.dest.test", "")
	c.Result("dest.test", PolicySTS, "mx1.dest.test", "certificate-expired")
	c.Result("norpt.test", PolicyNotFound, "mx.norpt.test", "")
	ps, err := c.Pending(ctx, "2026-11-30")
	if err != nil || len(ps) != 2 || ps[0].Domain != "dest.test" || len(ps[0].Rua) != 1 || ps[0].Rua[0] != "tlsrpt@dest.test" ||
		len(ps[1].Rua) != 0 || ps[0].Report.Policies[0].Summary != (ReportSummary{Success: 1, Failure: 1}) {
		t.Fatalf("pending %+v %v", ps, err)
	}
	if _, err := c.SendDay(ctx, "2026-11-30"); err == nil || !strings.Contains(err.Error(), "not over") {
		t.Fatalf("today sent: %v", err)
	}
	if _, err := c.SendDay(ctx, "30.11.2026"); err == nil {
		t.Fatal("a malformed day accepted")
	}
	clk.Advance(15 * time.Hour) // 01:00 the next day
	if n, err := c.SendDay(ctx, "2026-11-30"); n != 1 || err != nil || len(sent) != 1 || sent[0].key != "tlsrpt:2026-11-30:dest.test" {
		t.Fatalf("sent %d (%v): %+v", n, err, sent)
	}
	if n, _ := c.SendDue(ctx); n != 0 || len(sent) != 1 {
		t.Fatalf("the hourly run sent the day again: %d", n)
	}
	if ps, _ := c.Pending(ctx, "2026-11-30"); len(ps) != 0 {
		t.Fatalf("still pending after the send: %+v", ps)
	}
}
