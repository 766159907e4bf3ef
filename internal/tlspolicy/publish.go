package tlspolicy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"umbra/internal/mailaddr"
)

// Publication is the MTA-STS policy a server publishes for the domains it
// receives mail for (the inbound side of RFC 8461 §3.3).
type Publication struct {
	Mode    string
	MX      []string
	MaxAge  time.Duration
	Domains []string // served as mta-sts.<domain>
}

// Text is the policy file.
func (p Publication) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\n", p.Mode)
	for _, m := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", m)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	return b.String()
}

// Handler serves the policy at /.well-known/mta-sts.txt for the hosts
// mta-sts.<domain> of its domains (404 for anything else), as text/plain.
func (p Publication) Handler() http.Handler {
	hosts := map[string]bool{}
	for _, d := range p.Domains {
		hosts["mta-sts."+mailaddr.NameKey(d)] = true
	}
	text := p.Text()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = mailaddr.NameKey(host) // a fully qualified name, in any case or form, is the same host
		if r.URL.Path != "/.well-known/mta-sts.txt" || !hosts[host] || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprint(w, text)
	})
}

// Server returns the HTTPS server of the publication.
func (p Publication) Server(cert tls.Certificate) *http.Server {
	return &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
}
