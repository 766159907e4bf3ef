package delivery

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// hubScript says how a fake hub answers a shadow client. The zero value
// is a hub that takes shadow sessions of verbs version 3 and answers 250
// to everything.
type hubScript struct {
	// ehlo is the EHLO reply's lines after the name; nil means
	// "XSHADOW 3" and "8BITMIME".
	ehlo []string
	// xshadow is the reply to XSHADOW; "" means "250 peer-database-1".
	xshadow string
	// hangAtMail: from the first MAIL of a session on, the hub reads
	// and answers nothing more (a disk that stalled, a stopped process
	// behind its socket).
	hangAtMail bool
	// dataReply, when set, is the reply to each message's data after
	// DATA's "354"; when "" DATA is answered 250 like any command.
	dataReply string
	// tls, when set, offers STARTTLS with it.
	tls *tls.Config
}

// fakeHub is a hub on a loopback address that speaks just enough SMTP
// for a shadow client, as its script says, and counts what it saw.
type fakeHub struct {
	addr      string
	sessions  atomic.Int32 // connections accepted
	mails     atomic.Int32 // MAIL commands read
	copies    atomic.Int32 // message data read to its end
	tlsCopies atomic.Int32 // of them, read after STARTTLS
}

// startFakeHub listens on addr (port 0 for any) until the test ends.
func startFakeHub(t *testing.T, addr string, s hubScript) *fakeHub {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := &fakeHub{addr: ln.Addr().String()}
	if s.ehlo == nil {
		s.ehlo = []string{"XSHADOW 3", "8BITMIME"}
	}
	if s.tls != nil {
		s.ehlo = append([]string{"STARTTLS"}, s.ehlo...)
	}
	if s.xshadow == "" {
		s.xshadow = "250 peer-database-1"
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.sessions.Add(1)
			go h.serve(c, s)
		}
	}()
	return h
}

func (h *fakeHub) serve(c net.Conn, s hubScript) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "220 peer.test\r\n")
	secure := false
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
		case strings.HasPrefix(cmd, "EHLO"):
			var b strings.Builder
			b.WriteString("250-peer.test\r\n")
			for i, ext := range s.ehlo {
				sep := "-"
				if i == len(s.ehlo)-1 {
					sep = " "
				}
				b.WriteString("250" + sep + ext + "\r\n")
			}
			io.WriteString(c, b.String())
		case cmd == "STARTTLS" && s.tls != nil && !secure:
			io.WriteString(c, "220 go ahead\r\n")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, r, secure = tc, bufio.NewReader(tc), true
			defer tc.Close()
		case strings.HasPrefix(cmd, "XSHADOW"):
			io.WriteString(c, s.xshadow+"\r\n")
		case strings.HasPrefix(cmd, "MAIL"):
			h.mails.Add(1)
			if s.hangAtMail {
				io.Copy(io.Discard, r) // hung: never another reply
				return
			}
			io.WriteString(c, "250 ok\r\n")
		case cmd == "DATA" && s.dataReply != "":
			io.WriteString(c, "354 go on\r\n")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			h.copies.Add(1)
			if secure {
				h.tlsCopies.Add(1)
			}
			io.WriteString(c, s.dataReply+"\r\n")
		case cmd == "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

// deadPeer accepts connections on addr and closes each at once (a hub
// whose daemon is gone behind a listening port); it counts them.
func deadPeer(t *testing.T, addr string) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}
