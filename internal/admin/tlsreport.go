package admin

import (
	"context"
	"net/http"
	"time"
)

// TLSReports is the daemon's TLS-RPT counter as the API uses it
// (tlspolicy.Counter): a day's pending reports, and sending a finished
// day's now.
type TLSReports interface {
	PendingAny(ctx context.Context, day string) (any, error)
	SendDay(ctx context.Context, day string) (int, error)
}

// SetTLSReports gives the API the TLS-RPT counter (GET /v1/tlsreport,
// POST /v1/tlsreport/send; umbra tls report).
func (s *Server) SetTLSReports(r TLSReports) {
	s.tlsReportsMu.Lock()
	s.tlsReports = r
	s.tlsReportsMu.Unlock()
}

func (s *Server) tlsReportRoutes(mux *http.ServeMux) {
	get := func() TLSReports {
		s.tlsReportsMu.Lock()
		defer s.tlsReportsMu.Unlock()
		return s.tlsReports
	}
	day := func(r *http.Request) (string, bool) {
		d := r.URL.Query().Get("date")
		if d == "" {
			d = s.now().UTC().Format(time.DateOnly)
		}
		_, err := time.Parse(time.DateOnly, d)
		return d, err == nil
	}
	mux.HandleFunc("GET /v1/tlsreport", func(w http.ResponseWriter, r *http.Request) {
		rep := get()
		if rep == nil {
			fail(w, http.StatusNotFound, "outbound_tls.tls_rpt is off")
			return
		}
		d, ok := day(r)
		if !ok {
			fail(w, http.StatusBadRequest, "date: want YYYY-MM-DD")
			return
		}
		v, err := rep.PendingAny(r.Context(), d)
		reply(w, v, err)
	})
	mux.HandleFunc("POST /v1/tlsreport/send", s.auditRefusals(func(r *http.Request) (string, string) {
		return "tls report send " + r.URL.Query().Get("date"), ""
	}, func(w http.ResponseWriter, r *http.Request) {
		rep := get()
		if rep == nil {
			fail(w, http.StatusNotFound, "outbound_tls.tls_rpt is off")
			return
		}
		d, ok := day(r)
		if !ok {
			fail(w, http.StatusBadRequest, "date: want YYYY-MM-DD")
			return
		}
		n, err := rep.SendDay(r.Context(), d)
		s.audit(r, "tls report send "+d, nil, "", err)
		if err != nil && n == 0 {
			failErr(w, http.StatusBadRequest, err)
			return
		}
		reply(w, map[string]any{"date": d, "queued": n}, err)
	}))
}

// TLSReport asks for the pending TLS reports of date (YYYY-MM-DD; ""
// today) into out (the JSON of []tlspolicy.PendingReport).
func (c *Client) TLSReport(date string, out any) error {
	return c.do("GET", "/v1/tlsreport", dateQuery(date), out)
}

// SendTLSReport sends the TLS reports of a finished day now; out gets
// {"date", "queued"}.
func (c *Client) SendTLSReport(date string, out any) error {
	return c.do("POST", "/v1/tlsreport/send", dateQuery(date), out)
}

func dateQuery(date string) map[string][]string {
	if date == "" {
		return nil
	}
	return map[string][]string{"date": {date}}
}
