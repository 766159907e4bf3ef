package delivery

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/testsupport"
)

// peer48 is a scripted SMTP or LMTP peer on loopback: answer gives the
// reply to each command (upper-cased, trimmed) of connection conn, ""
// for its default (250; 354 to DATA). After a 354 it reads the message
// data to the final dot and counts it (ends), whatever the message held,
// and answers it with final (one line per reply, "" for 250).
type peer48 struct {
	ln       net.Listener
	ehlo     string // the EHLO/LHLO reply's keywords, one per line
	greeting func(conn int) string
	answer   func(conn int, cmd string) string
	final    func(conn int) []string
	// beforeFinal, when set, is called before the k-th reply to a
	// message's end is written; false ends the connection there.
	beforeFinal func(k int) bool

	live sync.WaitGroup // the connections being served (served)

	mu    sync.Mutex
	conns int
	ends  int      // message data ended with a dot (anything delivered)
	cmds  []string // every command, in order
}

func startPeer48(t *testing.T, ip string, ehlo []string, answer func(conn int, cmd string) string, opts ...func(*peer48)) *peer48 {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	return startPeer48On(t, ln, ehlo, answer, opts...)
}

// pair48 listens on 127.0.0.248 and 127.0.0.249 at one port of
// 14800-14999 (below the ephemeral range): a destination's two MX hosts,
// the connector's port one for both. The second is left unserved (its
// listener closed: a host that refuses connections) when down is set.
func pair48(t *testing.T) (net.Listener, net.Listener) {
	t.Helper()
	for try := 0; try < 50; try++ {
		a := testsupport.AddrInRange(t, "127.0.0.248", 14800, 200)
		ln1, err := net.Listen("tcp", a)
		if err != nil {
			continue
		}
		ln2, err := net.Listen("tcp", "127.0.0.249:"+portOf(a))
		if err != nil {
			ln1.Close()
			continue
		}
		return ln1, ln2
	}
	t.Fatal("no port of 14800-14999 free on both 127.0.0.248 and 127.0.0.249")
	return nil, nil
}

// pair48Deliverer delivers example.net to MX hosts mx1 (127.0.0.248,
// preference 10) and mx2 (127.0.0.249, preference 20) at port.
func pair48Deliverer(t *testing.T, port string) *Deliverer {
	t.Helper()
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx1.example.net.", Pref: 10}, {Host: "mx2.example.net.", Pref: 20}}},
		hosts: map[string][]string{"mx1.example.net": {"127.0.0.248"}, "mx2.example.net": {"127.0.0.249"}}}
	conn := mxConnector(port)
	conn.TLS = config.TLSNone
	return newDeliverer(t, dns, config.Mailbox{}, conn)
}

// startPeer48On is startPeer48 serving ln; opts set the peer's other
// fields (greeting, final, beforeFinal) before it serves.
func startPeer48On(t *testing.T, ln net.Listener, ehlo []string, answer func(conn int, cmd string) string, opts ...func(*peer48)) *peer48 {
	t.Helper()
	p := &peer48{ln: ln, answer: answer}
	for _, o := range opts {
		o(p)
	}
	if len(ehlo) > 0 {
		for k, e := range ehlo {
			sep := "-"
			if k == len(ehlo)-1 {
				sep = " "
			}
			p.ehlo += "250" + sep + e + "\r\n"
		}
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns++
			n := p.conns
			p.mu.Unlock()
			p.live.Add(1)
			go func() {
				defer p.live.Done()
				p.serve(c, n)
			}()
		}
	}()
	return p
}

func (p *peer48) addr() string { return p.ln.Addr().String() }

func (p *peer48) serve(c net.Conn, conn int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	g := "220 peer48.test ESMTP"
	if p.greeting != nil {
		if s := p.greeting(conn); s != "" {
			g = s
		}
	}
	c.Write([]byte(g + "\r\n"))
	if strings.HasPrefix(g, "421") {
		return
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(l))
		p.mu.Lock()
		p.cmds = append(p.cmds, cmd)
		p.mu.Unlock()
		out := p.answer(conn, cmd)
		switch {
		case out == "close":
			return
		case out != "":
		case strings.HasPrefix(cmd, "EHLO") || strings.HasPrefix(cmd, "LHLO"):
			out = p.ehlo
			if out == "" {
				out = "250 peer48.test"
			}
		case cmd == "DATA":
			out = "354 go on"
		case cmd == "QUIT":
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			out = "250 2.0.0 ok"
		}
		if !strings.HasSuffix(out, "\r\n") {
			out += "\r\n"
		}
		c.Write([]byte(out))
		if strings.HasPrefix(out, "421") {
			return
		}
		if cmd == "DATA" && strings.HasPrefix(out, "354") {
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return // cut before the dot: nothing delivered
				}
				if l == ".\r\n" {
					break
				}
			}
			p.mu.Lock()
			p.ends++
			p.mu.Unlock()
			finals := []string{""}
			if p.final != nil {
				finals = p.final(conn)
			}
			for k, f := range finals {
				if p.beforeFinal != nil && !p.beforeFinal(k) {
					return
				}
				if f == "" {
					f = "250 2.0.0 queued"
				}
				c.Write([]byte(f + "\r\n"))
			}
		}
	}
}

// served waits until every connection the peer accepted has ended:
// what it read is all it got (a dot umbra wrote just before closing is
// counted by then). Call it after the delivery closed its sessions.
func (p *peer48) served(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		p.live.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("a connection to the peer never ended")
	}
}

func (p *peer48) ended() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ends
}

func (p *peer48) connCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}
