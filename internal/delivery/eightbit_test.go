package delivery

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rawSink is an SMTP (or LMTP) server on loopback that offers exactly
// the EHLO keywords given (go-smtp's server always offers 8BITMIME) and
// records MAIL lines and message bodies.
type rawSink struct {
	addr  string
	mu    sync.Mutex
	mails []string
	rcpts []string
	datas []string
}

func startRawSink(t *testing.T, addr string, keywords ...string) *rawSink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSink{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, keywords)
		}
	}()
	return s
}

func (s *rawSink) serve(c net.Conn, keywords []string) {
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("220 raw.test ESMTP\r\n"))
	var rcpts int
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		u := strings.ToUpper(l)
		switch {
		case strings.HasPrefix(u, "EHLO"), strings.HasPrefix(u, "LHLO"):
			reply := "250-raw.test\r\n"
			for _, k := range keywords {
				reply += "250-" + k + "\r\n"
			}
			c.Write([]byte(reply + "250 HELP\r\n"))
		case strings.HasPrefix(u, "MAIL"):
			s.mu.Lock()
			s.mails = append(s.mails, strings.TrimRight(l, "\r\n"))
			s.mu.Unlock()
			rcpts = 0
			c.Write([]byte("250 ok\r\n"))
		case strings.HasPrefix(u, "RCPT"):
			s.mu.Lock()
			s.rcpts = append(s.rcpts, strings.TrimRight(l, "\r\n"))
			s.mu.Unlock()
			rcpts++
			c.Write([]byte("250 ok\r\n"))
		case strings.HasPrefix(u, "DATA"):
			c.Write([]byte("354 go\r\n"))
			b, err := testsupport.ReadData(r)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.datas = append(s.datas, b)
			s.mu.Unlock()
			for range max(rcpts, 1) { // LMTP: one reply per recipient; SMTP: this sink's clients send one
				c.Write([]byte("250 ok\r\n"))
				if !strings.Contains(strings.Join(keywords, " "), "LMTPREPLIES") {
					break
				}
			}
		case strings.HasPrefix(u, "QUIT"):
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("250 ok\r\n"))
		}
	}
}

func (s *rawSink) got() (mails, datas []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.mails...), append([]string(nil), s.datas...)
}

// A message with internationalised header fields, or 8-bit content, never
// goes raw to a next hop that does not offer SMTPUTF8 / 8BITMIME: it
// fails there (5.6.7, 5.6.3) and a DSN follows (FailedPerm). A message
// whose bytes are all ASCII goes anywhere, whatever it was received with.
func TestEightBitContentOnlyToAHopThatTakesIt(t *testing.T) {
	utf8Hdr := []byte("Subject: caf\xc3\xa9\r\n\r\nhello\r\n")
	eightBody := []byte("Subject: x\r\n\r\nx \xc3\xa9\xc3\xa9\r\n")
	plain := []byte("Subject: x\r\n\r\nhello\r\n")
	for _, tc := range []struct {
		name     string
		keywords []string
		utf8     bool
		eight    bool
		body     []byte
		want     queue.Outcome
		reply    string
	}{
		{"utf8 headers, no extension", nil, true, false, utf8Hdr, queue.FailedPerm, "550 5.6.7"},
		{"utf8 headers, 8BITMIME only", []string{"8BITMIME"}, true, false, utf8Hdr, queue.FailedPerm, "550 5.6.7"},
		{"utf8 headers, SMTPUTF8", []string{"8BITMIME", "SMTPUTF8"}, true, false, utf8Hdr, queue.RelayedOK, "250"},
		{"8-bit body declared, no extension", nil, false, true, eightBody, queue.FailedPerm, "550 5.6.3"},
		{"8-bit body undeclared, no extension", nil, false, false, eightBody, queue.FailedPerm, "550 5.6.3"},
		{"8-bit headers undeclared, no extension", nil, false, false, utf8Hdr, queue.FailedPerm, "550 5.6.3"},
		{"8-bit body, 8BITMIME", []string{"8BITMIME"}, false, true, eightBody, queue.RelayedOK, "250"},
		{"smtputf8 message, 8-bit body only, 8BITMIME", []string{"8BITMIME"}, true, false, eightBody, queue.RelayedOK, "250"},
		{"smtputf8 message, 8-bit body only, no extension", nil, true, false, eightBody, queue.FailedPerm, "550 5.6.3"},
		{"declared 8BITMIME, ASCII content, no extension", nil, true, true, plain, queue.RelayedOK, "250"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRawSink(t, "127.0.0.2:0", tc.keywords...)
			dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.outside.example": {"127.0.0.2"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
			m := message("x@outside.example")
			m.UTF8, m.EightBit = tc.utf8, tc.eight
			res := d.Deliver(context.Background(), m, tc.body, all(m))
			if len(res) != 1 || res[0].Outcome != tc.want || !strings.HasPrefix(res[0].Reply, tc.reply) {
				t.Fatalf("results %+v, want %v %s", res, tc.want, tc.reply)
			}
			mails, datas := s.got()
			if tc.want != queue.RelayedOK {
				if len(datas) != 0 {
					t.Fatalf("the next hop got the message: %q", datas)
				}
				return
			}
			if len(datas) != 1 || !strings.HasSuffix(datas[0], string(tc.body)) {
				t.Fatalf("the next hop got %q", datas)
			}
			has8 := bytes.ContainsFunc(tc.body, func(r rune) bool { return r >= 0x80 })
			if has8 && !strings.Contains(mails[0], "BODY=8BITMIME") && !strings.Contains(mails[0], "SMTPUTF8") {
				t.Errorf("8-bit content sent with %q", mails[0])
			}
		})
	}
}

// The decision is per host: an MX host that does not offer 8BITMIME is
// passed over for the next one that does; only when no host that
// answered takes the message does it fail.
func TestEightBitTriesTheNextMXHost(t *testing.T) {
	bare := startRawSink(t, "127.0.0.2:0")
	port := portOf(bare.addr)
	full := startRawSink(t, "127.0.0.3:"+port, "8BITMIME")
	dns := &fakeDNS{mx: map[string][]*net.MX{
		"outside.example": {{Host: "bare.outside.example", Pref: 10}, {Host: "full.outside.example", Pref: 20}},
		"bare.example":    {{Host: "bare.outside.example", Pref: 10}}},
		hosts: map[string][]string{"bare.outside.example": {"127.0.0.2"}, "full.outside.example": {"127.0.0.3"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	eight := []byte("Subject: x\r\n\r\nx \xc3\xa9\r\n")
	m := message("x@outside.example")
	m.EightBit = true
	res := d.Deliver(context.Background(), m, eight, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK || !strings.Contains(res[0].NextHop, "127.0.0.3") {
		t.Fatalf("results %+v, want relayed by full.outside.example", res)
	}
	if _, datas := bare.got(); len(datas) != 0 {
		t.Fatalf("the host without 8BITMIME got %q", datas)
	}
	if mails, datas := full.got(); len(datas) != 1 || !strings.Contains(mails[0], "BODY=8BITMIME") {
		t.Fatalf("the host with 8BITMIME got %q %q", mails, datas)
	}
	// The same host again (its pooled session) for a 7-bit message: the
	// refusal was for the content, not the host.
	m7 := message("y@bare.example")
	if res := d.Deliver(context.Background(), m7, body, all(m7)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("7-bit to the same host: %+v", res)
	}
	m8 := message("y@bare.example")
	m8.EightBit = true
	if res := d.Deliver(context.Background(), m8, eight, all(m8)); len(res) != 1 || res[0].Outcome != queue.FailedPerm ||
		!strings.HasPrefix(res[0].Reply, "550 5.6.3 bare.outside.example[127.0.0.2]") {
		t.Fatalf("8-bit to a pooled session of a host without 8BITMIME: %+v", res)
	}
}

// The same rule for a smart host and for LMTP, and for a spooled body
// whose 8-bit byte lies far past the part held in memory.
func TestEightBitSmartHostLMTPAndSpooled(t *testing.T) {
	eight := []byte("Subject: x\r\n\r\nx \xc3\xa9\r\n")
	t.Run("smart host", func(t *testing.T) {
		s := startRawSink(t, "127.0.0.2:0")
		sc := config.SendConnector{Name: "smart", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}}, SmartHosts: []string{s.addr}}
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
		m := message("x@outside.example")
		if res := d.Deliver(context.Background(), m, eight, all(m)); len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.6.3") {
			t.Fatalf("results %+v", res)
		}
	})
	t.Run("lmtp", func(t *testing.T) {
		s := startRawSink(t, "127.0.0.1:0", "LMTPREPLIES")
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
		m := message("a@example.test", "b@example.test")
		m.UTF8 = true
		res := d.Deliver(context.Background(), m, []byte("Subject: caf\xc3\xa9\r\n\r\nhi\r\n"), all(m))
		if len(res) != 2 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.6.7") {
			t.Fatalf("results %+v", res)
		}
		if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 2 || res[0].Outcome != queue.DeliveredOK || res[1].Outcome != queue.DeliveredOK {
			t.Fatalf("7-bit by LMTP: %+v", res)
		}
	})
	t.Run("spooled", func(t *testing.T) {
		store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		content := append(bigMessage(1<<20), "last line \xc3\xa9\r\n"...)
		spooled, _ := spoolInto(t, store, content)
		plainBody, _ := spoolInto(t, store, bigMessage(1<<20))
		s := startRawSink(t, "127.0.0.2:0", "PIPELINING")
		dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
			hosts: map[string][]string{"mx.outside.example": {"127.0.0.2"}}}
		d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
		m := message("x@outside.example")
		if res := d.DeliverBody(context.Background(), m, spooled, all(m)); len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.6.3") {
			t.Fatalf("results %+v", res)
		}
		if res := d.DeliverBody(context.Background(), m, plainBody, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
			t.Fatalf("7-bit spooled: %+v", res)
		}
		if _, datas := s.got(); len(datas) != 1 {
			t.Fatalf("the next hop got %d messages, want the 7-bit one", len(datas))
		}
	})
}

// eightBitScan finds 8-bit bytes in the header section and in the body
// wherever the pieces are cut.
func TestEightBitScanAcrossPieces(t *testing.T) {
	for _, tc := range []struct {
		msg            string
		header8, body8 bool
	}{
		{"A: b\r\n\r\nc\r\n", false, false},
		{"A: \xe9\r\n\r\nc\r\n", true, false},
		{"A: b\r\n\r\n\xe9\r\n", false, true},
		{"A: b\r\n folded \xe9\r\n\r\nc", true, false},
		{"A: b\n\n\xe9", false, true},
		{"\r\n\xe9", false, true},
		{"A: b\r\n", false, false},
	} {
		for cut := 0; cut <= len(tc.msg); cut++ {
			var s eightBitScan
			s.write([]byte(tc.msg[:cut]))
			s.write([]byte(tc.msg[cut:]))
			if s.header8 != tc.header8 || s.body8 != tc.body8 {
				t.Errorf("%q cut at %d: header8 %v body8 %v, want %v %v", tc.msg, cut, s.header8, s.body8, tc.header8, tc.body8)
			}
		}
	}
}

// FuzzEightBitScan: the scan of a message in two pieces says what a
// plain reading of the whole says.
func FuzzEightBitScan(f *testing.F) {
	f.Add([]byte("A: b\r\n\r\n\xe9"), 3)
	f.Add([]byte("A: \xe9\r\n\r\nc"), 0)
	f.Fuzz(func(t *testing.T, msg []byte, cut int) {
		if cut < 0 || cut > len(msg) {
			cut = len(msg) / 2
		}
		var s eightBitScan
		s.write(msg[:cut])
		s.write(msg[cut:])
		h8, b8 := plainEightBit(msg)
		if s.header8 != h8 || s.body8 != b8 {
			t.Fatalf("%q cut at %d: header8 %v body8 %v, want %v %v", msg, cut, s.header8, s.body8, h8, b8)
		}
	})
}

// plainEightBit reads msg whole: the header section ends after the first
// line with nothing but CRs in it.
func plainEightBit(msg []byte) (header8, body8 bool) {
	end := len(msg)
	for pos := 0; pos < len(msg); {
		i := bytes.IndexByte(msg[pos:], '\n')
		if i < 0 {
			break
		}
		if len(bytes.ReplaceAll(msg[pos:pos+i], []byte("\r"), nil)) == 0 {
			end = pos + i + 1
			break
		}
		pos += i + 1
	}
	high := func(b []byte) bool {
		for _, c := range b {
			if c >= 0x80 {
				return true
			}
		}
		return false
	}
	return high(msg[:end]), high(msg[end:])
}

// A relay to another server of the organisation follows the same rule:
// a server that offers neither 8BITMIME nor SMTPUTF8 gets no 8-bit
// message (umbra's own servers always offer both).
func TestEightBitOrgRelay(t *testing.T) {
	s := startRawSink(t, "127.0.0.7:0")
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: s.addr},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.8:25"}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-a"}, SmartHosts: []string{"127.0.0.9:25"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-b.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-b",
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("r@remote.example")
	m.OrgID = orgid.New()
	res := d.Deliver(context.Background(), m, []byte("Subject: x\r\n\r\n\xc3\xa9\r\n"), all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.6.3 hub-a") {
		t.Fatalf("8-bit relay to hub-a: %+v", res)
	}
	if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("7-bit relay to hub-a: %+v", res)
	}
	if _, datas := s.got(); len(datas) != 1 {
		t.Fatalf("hub-a got %d messages, want the 7-bit one", len(datas))
	}
}

// To a hop that offers 8BITMIME, MAIL declares BODY=8BITMIME only for a
// message that is 8-bit: received with the parameter (umbra never
// converts it), or with a byte above 127 in it though received without;
// a 7-bit message — umbra's own DSNs among them — goes without it.
func TestEightBitDeclaredOnlyForEightBitMessages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		eight bool
		body  string
		want  bool
	}{
		{"7-bit", false, "Subject: x\r\n\r\nhello\r\n", false},
		{"received with BODY=8BITMIME, ASCII", true, "Subject: x\r\n\r\nhello\r\n", true},
		{"8-bit body received without it", false, "Subject: x\r\n\r\nx \xc3\xa9\r\n", true},
		{"8-bit header received without it", false, "Subject: caf\xc3\xa9\r\n\r\nhello\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRawSink(t, "127.0.0.2:0", "8BITMIME")
			dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.outside.example": {"127.0.0.2"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
			m := message("x@outside.example")
			m.EightBit = tc.eight
			res := d.Deliver(context.Background(), m, []byte(tc.body), all(m))
			if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
				t.Fatalf("results %+v", res)
			}
			mails, _ := s.got()
			if len(mails) != 1 || strings.Contains(mails[0], "BODY=8BITMIME") != tc.want {
				t.Errorf("MAIL %q, want BODY=8BITMIME %v", mails, tc.want)
			}
		})
	}
}
