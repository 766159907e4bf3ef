package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	Addr string // host:port, the same for UDP and TCP

	mu      sync.Mutex
	rrs     []dns.RR
	fail    []string // name suffixes answered with SERVFAIL
	drop    []string // name suffixes never answered
	secure  []string // name suffixes answered with AD set
	nochase []string // name suffixes whose CNAME is answered alone
	raw     []rawRR  // records given as wire RDATA, answered last in the packet
	mangle  []mangler
	queries int
	udp     *dns.Server
	tcp     *dns.Server
}

// Start serves records (zone-file lines such as
// "example.test. 300 IN MX 10 mx.example.test.") on 127.0.0.1 and
// stops in t.Cleanup.
func Start(t testing.TB, records ...string) *Server {
	t.Helper()
	s := &Server{}
	s.Add(t, records...)
	s.Addr, s.udp, s.tcp = serve(t, "127.0.0.1", s)
	t.Cleanup(func() { s.udp.Shutdown(); s.tcp.Shutdown() })
	return s
}

// StartOn is Start on addr (host:port, UDP and TCP), for a test that
// keeps to its own loopback address and ports.
func StartOn(t testing.TB, addr string, records ...string) *Server {
	t.Helper()
	s := &Server{}
	s.Add(t, records...)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	s.Addr, s.udp, s.tcp = addr, &dns.Server{PacketConn: pc, Handler: s}, &dns.Server{Listener: l, Handler: s}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	t.Cleanup(func() { s.udp.Shutdown(); s.tcp.Shutdown() })
	return s
}

// serve answers with h over UDP and TCP on one port of ip; the caller
// shuts the servers down in its cleanup.
func serve(t testing.TB, ip string, h dns.Handler) (addr string, udp, tcp *dns.Server) {
	t.Helper()
	// UDP picks a free port; TCP on the same port may be taken by
	// another listener, so pick again (bounded).
	var pc net.PacketConn
	var l net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", net.JoinHostPort(ip, "0")); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	udp = &dns.Server{PacketConn: pc, Handler: h}
	tcp = &dns.Server{Listener: l, Handler: h}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	return pc.LocalAddr().String(), udp, tcp
}

// Add adds records.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range records {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("dnstest: %q: %v", line, err)
		}
		if rr != nil {
			s.rrs = append(s.rrs, rr)
		}
	}
}

// rawRR is a record of name and type whose RDATA is given as bytes,
// whatever they are: a broken record the DNS library would not build.
type rawRR struct {
	name  string
	rtype uint16
	rdata []byte
}

// Raw adds a record of name and rtype whose RDATA is rdata as written,
// its RDLENGTH len(rdata): a malformed record (an MX of a preference
// and no exchange, a TXT of no string, a TLSA of two bytes). A question
// for name and rtype is answered with its other records of that type
// and then the raw ones, the last bytes of the packet (no authority or
// additional section follows them), where a parser that stops at the
// packet's end reads a cut RDATA as a whole record.
func (s *Server) Raw(name string, rtype uint16, rdata []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = append(s.raw, rawRR{strings.ToLower(dns.Fqdn(name)), rtype, rdata})
}

// withRaw is r packed with the raw records of name and qtype appended
// to its answer section, or nil when it has none.
func (s *Server) withRaw(r *dns.Msg, name string, qtype uint16) []byte {
	var raws []rawRR
	for _, x := range s.raw {
		if x.name == name && x.rtype == qtype {
			raws = append(raws, x)
		}
	}
	if len(raws) == 0 {
		return nil
	}
	r.Rcode = dns.RcodeSuccess
	r.Ns, r.Extra = nil, nil
	r.Compress = false
	out, err := r.Pack()
	if err != nil {
		return nil
	}
	for _, x := range raws {
		owner := make([]byte, 256)
		n, err := dns.PackDomainName(x.name, owner, 0, nil, false)
		if err != nil {
			return nil
		}
		out = append(out, owner[:n]...)
		out = append(out, byte(x.rtype>>8), byte(x.rtype), 0, byte(dns.ClassINET), 0, 0, 0, 60,
			byte(len(x.rdata)>>8), byte(len(x.rdata)))
		out = append(out, x.rdata...)
	}
	an := int(out[6])<<8 | int(out[7]) + len(raws)
	out[6], out[7] = byte(an>>8), byte(an)
	return out
}

// mangler rewrites the packed reply to questions under a suffix.
type mangler struct {
	suffix string
	f      func(r *dns.Msg) []byte
}

// Mangle makes the reply to a question for a name ending in suffix the
// bytes f makes of the reply the server would give (r, its id and
// question set; f may change it and pack it, or write bytes of its
// own): a reply no DNS library would build (header counts that lie, a
// record cut short between real names).
func (s *Server) Mangle(suffix string, f func(r *dns.Msg) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mangle = append(s.mangle, mangler{strings.ToLower(dns.Fqdn(suffix)), f})
}

// Remove removes every record of name (any type).
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	kept := s.rrs[:0]
	for _, rr := range s.rrs {
		if strings.ToLower(rr.Header().Name) != name {
			kept = append(kept, rr)
		}
	}
	s.rrs = kept
}

// Fail makes every name ending in suffix answer SERVFAIL.
func (s *Server) Fail(suffix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, strings.ToLower(dns.Fqdn(suffix)))
}

// Drop makes every query for a name ending in suffix go unanswered.
func (s *Server) Drop(suffix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = append(s.drop, strings.ToLower(dns.Fqdn(suffix)))
}

// Secure sets the AD bit on answers for names ending in suffix.
func (s *Server) Secure(suffix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secure = append(s.secure, strings.ToLower(dns.Fqdn(suffix)))
}

// NoChase makes a CNAME of a name ending in suffix answered alone, its
// target not followed (as a server's local data for an alias out of its
// zone is): the client must ask for the target itself.
func (s *Server) NoChase(suffix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nochase = append(s.nochase, strings.ToLower(dns.Fqdn(suffix)))
}

func under(name string, suffixes []string) bool {
	for _, f := range suffixes {
		if name == f || strings.HasSuffix(name, "."+f) || f == "." {
			return true
		}
	}
	return false
}

// Queries returns how many queries the server answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	r := new(dns.Msg)
	r.SetReply(q)
	r.Authoritative = true
	if len(q.Question) != 1 {
		r.Rcode = dns.RcodeFormatError
		w.WriteMsg(r)
		return
	}
	qn := strings.ToLower(q.Question[0].Name)
	qt := q.Question[0].Qtype
	s.mu.Lock()
	s.queries++
	if under(qn, s.drop) {
		s.mu.Unlock()
		return
	}
	if under(qn, s.fail) {
		s.mu.Unlock()
		r.Rcode = dns.RcodeServerFailure
		w.WriteMsg(r)
		return
	}
	r.AuthenticatedData = under(qn, s.secure)
	asked := qn
	exists := false
	for range 8 { // follow CNAMEs within the zone
		next := ""
		for _, rr := range s.rrs {
			h := rr.Header()
			if strings.ToLower(h.Name) != qn {
				continue
			}
			exists = true
			if h.Rrtype == qt || qt == dns.TypeANY {
				r.Answer = append(r.Answer, dns.Copy(rr))
			} else if cn, ok := rr.(*dns.CNAME); ok {
				r.Answer = append(r.Answer, dns.Copy(rr))
				next = strings.ToLower(cn.Target)
			}
		}
		if next == "" || under(qn, s.nochase) {
			break
		}
		qn = next
	}
	for _, x := range s.raw {
		exists = exists || x.name == asked
	}
	if !exists {
		r.Rcode = dns.RcodeNameError
	}
	if len(r.Answer) == 0 || !exists {
		if soa := s.soaFor(asked); soa != nil {
			r.Ns = append(r.Ns, soa)
		}
	}
	raw := s.withRaw(r, asked, qt)
	for _, m := range s.mangle {
		if under(asked, []string{m.suffix}) {
			raw = m.f(r)
		}
	}
	s.mu.Unlock()
	if raw != nil {
		w.Write(raw)
		return
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := 512
		if o := q.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		r.Truncate(size)
	}
	w.WriteMsg(r)
}

// soaFor returns a copy of the SOA of the closest zone enclosing name.
func (s *Server) soaFor(name string) dns.RR {
	var best dns.RR
	for _, rr := range s.rrs {
		h := rr.Header()
		zone := strings.ToLower(h.Name)
		if h.Rrtype != dns.TypeSOA || !(name == zone || strings.HasSuffix(name, "."+zone) || zone == ".") {
			continue
		}
		if best == nil || len(zone) > len(best.Header().Name) {
			best = rr
		}
	}
	if best == nil {
		return nil
	}
	return dns.Copy(best)
}
