package testsupport

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// HubScript says how a scripted hub (StartHub) answers a shadow client.
// The zero value is a hub that takes shadow sessions of verbs version 3
// and answers 250 to everything.
type HubScript struct {
	// EHLO is the EHLO reply's lines after the name; nil means
	// "XSHADOW 3" and "8BITMIME".
	EHLO []string
	// XShadow is the reply to XSHADOW; "" means "250 peer-database-1".
	XShadow string
	// HangAtMail: from the first MAIL of a session on, the hub reads
	// and answers nothing more (a disk that stalled, a stopped process
	// behind its socket).
	HangAtMail bool
	// HangAtQuit: a QUIT is read and never answered; the hub waits for
	// the client to close the connection (a server that hangs at the
	// end of a session).
	HangAtQuit bool
	// HangAtXDiscard: from the first XDISCARD of a session on (discard
	// notifications pushed to it), the hub reads and answers nothing
	// more.
	HangAtXDiscard bool
	// DataReply, when set, is the reply to each message's data after
	// DATA's "354" (a full disk: "452 4.3.1 …"); when "" DATA is
	// answered 250 like any command.
	DataReply string
	// TLS, when set, offers STARTTLS with it.
	TLS *tls.Config
	// Size, when set, adds "SIZE <n>" to the EHLO reply, read at each
	// EHLO (a limit changed by a reload while sessions stay open).
	Size *atomic.Int64
	// Fault, when set, ends every copy's session mid-way, the way and
	// at the step it names (FaultMail421 …): a server stopping (421)
	// or killed (EOF, reset) while a copy is pushed to it.
	Fault string
	// FaultDelay is waited before a fault after the data's end: copies
	// of other sessions queue behind the one in flight meanwhile (a
	// batch of several).
	FaultDelay time.Duration
	// FaultFirst, when above 0, has Fault end only the first FaultFirst
	// sessions; the later ones go through (set DataReply for them): a
	// server whose answer was cut once, reached again.
	FaultFirst int32
}

// The faults of a scripted hub (HubScript.Fault). After the data's end
// means after the line of the lone dot of DATA or the octets of BDAT
// … LAST: the hub may have stored the copy, the client cannot know.
const (
	FaultMail421  = "mail-421"  // 421 to MAIL, then the connection closed
	FaultData421  = "data-421"  // 421 to DATA (or to BDAT … LAST, unread)
	FaultDot421   = "dot-421"   // after the data's end, 421 and closed
	FaultDotEOF   = "dot-eof"   // after the data's end, closed with no reply
	FaultDotReset = "dot-reset" // after the data's end, reset (RST) with no reply
	// Before the data: no byte of the copy reached the hub (rcpt43
	// item 2), unless the client sent it with the command (BDAT … LAST
	// in one write with the envelope).
	FaultMailEOF   = "mail-eof"   // at MAIL, closed with no reply
	FaultMailReset = "mail-reset" // at MAIL, reset (RST) with no reply
	FaultRcptEOF   = "rcpt-eof"   // at RCPT, closed with no reply
	FaultDataReset = "data-reset" // at DATA or BDAT, reset (RST) with no reply, nothing after it read
	// A reply, then silence: 452 to MAIL, and nothing more answered
	// until the client closes (a disk that filled, then stalled).
	FaultMail452Hang = "mail-452-hang"
)

// cut ends c with no reply, by a reset when reset is set.
func cut(c net.Conn, reset bool) {
	if tc, ok := c.(*net.TCPConn); ok && reset {
		tc.SetLinger(0) // the close sends a reset
	}
	c.Close()
}

// Hub is a transport server on a loopback address that speaks just
// enough SMTP for a shadow client, as its script says, and counts what
// it saw.
type Hub struct {
	*Server
	Mails     atomic.Int32 // MAIL commands read
	Copies    atomic.Int32 // message data read to its end (DataReply or Fault set)
	TLSCopies atomic.Int32 // of them, read after STARTTLS
	Faults    atomic.Int32 // sessions ended by the script's Fault
	// Batched is the most copies one MAIL announced (XSHADOWBATCH=).
	Batched atomic.Int32
	// Quits is the QUIT commands read; Ended the sessions over (the
	// client closed the connection, or the hub ended it).
	Quits, Ended atomic.Int32

	sessions atomic.Int32 // begun, for HubScript.FaultFirst

	mu   sync.Mutex
	data []string // each copy's data read to its end, in order
}

// Data returns each copy's data the hub read to its end (DataReply or
// Fault set), in order: DATA's lines as sent, BDAT's octets.
func (h *Hub) Data() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.data)
}

func (h *Hub) read(data string, secure bool) {
	h.Copies.Add(1)
	if secure {
		h.TLSCopies.Add(1)
	}
	h.mu.Lock()
	h.data = append(h.data, data)
	h.mu.Unlock()
}

// fault ends c the way s.Fault names after the data's end.
func (h *Hub) fault(c net.Conn, s HubScript) {
	h.Faults.Add(1)
	time.Sleep(s.FaultDelay)
	switch s.Fault {
	case FaultDot421:
		io.WriteString(c, "421 4.3.2 Service shutting down\r\n")
	case FaultDotReset:
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // the close sends a reset
		}
	}
	c.Close()
}

// StartHub listens on addr (port 0 for any) until the test ends.
// Server.Count is the sessions it accepted.
func StartHub(t testing.TB, addr string, s HubScript) *Hub {
	t.Helper()
	if s.EHLO == nil {
		s.EHLO = []string{"XSHADOW 3", "8BITMIME"}
	}
	if s.TLS != nil {
		s.EHLO = append([]string{"STARTTLS"}, s.EHLO...)
	}
	if s.XShadow == "" {
		s.XShadow = "250 peer-database-1"
	}
	h := &Hub{}
	h.Server = Serve(t, addr, func(c net.Conn) { go h.serve(c, s) })
	return h
}

func (h *Hub) serve(c net.Conn, s HubScript) {
	defer h.Ended.Add(1)
	if n := h.sessions.Add(1); s.FaultFirst > 0 && n > s.FaultFirst {
		s.Fault = ""
	}
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
			exts := s.EHLO
			if s.Size != nil {
				exts = append(slices.Clone(exts), "SIZE "+strconv.FormatInt(s.Size.Load(), 10))
			}
			for i, ext := range exts {
				sep := "-"
				if i == len(exts)-1 {
					sep = " "
				}
				b.WriteString("250" + sep + ext + "\r\n")
			}
			io.WriteString(c, b.String())
		case cmd == "STARTTLS" && s.TLS != nil && !secure:
			io.WriteString(c, "220 go ahead\r\n")
			tc := tls.Server(c, s.TLS)
			if tc.Handshake() != nil {
				return
			}
			c, r, secure = tc, bufio.NewReader(tc), true
			defer tc.Close()
		case strings.HasPrefix(cmd, "XSHADOW"):
			io.WriteString(c, s.XShadow+"\r\n")
		case strings.HasPrefix(cmd, "XDISCARD") && s.HangAtXDiscard:
			io.Copy(io.Discard, r) // hung: never another reply
			return
		case strings.HasPrefix(cmd, "MAIL"):
			h.Mails.Add(1)
			if _, n, ok := strings.Cut(cmd, "XSHADOWBATCH="); ok {
				k, _ := strconv.Atoi(strings.Fields(n)[0])
				for b := h.Batched.Load(); int32(k) > b && !h.Batched.CompareAndSwap(b, int32(k)); b = h.Batched.Load() {
				}
			}
			if s.HangAtMail {
				io.Copy(io.Discard, r) // hung: never another reply
				return
			}
			if s.Fault == FaultMail421 {
				h.Faults.Add(1)
				io.WriteString(c, "421 4.3.2 Service shutting down\r\n")
				return
			}
			if s.Fault == FaultMail452Hang {
				h.Faults.Add(1)
				io.WriteString(c, "452 4.3.1 Insufficient system storage\r\n")
				io.Copy(io.Discard, r) // hung: never another reply
				return
			}
			if s.Fault == FaultMailEOF || s.Fault == FaultMailReset {
				h.Faults.Add(1)
				cut(c, s.Fault == FaultMailReset)
				return
			}
			io.WriteString(c, "250 ok\r\n")
		case strings.HasPrefix(cmd, "RCPT") && s.Fault == FaultRcptEOF:
			h.Faults.Add(1)
			cut(c, false)
			return
		case (cmd == "DATA" || strings.HasPrefix(cmd, "BDAT ")) && s.Fault == FaultDataReset:
			h.Faults.Add(1)
			cut(c, true)
			return
		case (cmd == "DATA" || strings.HasPrefix(cmd, "BDAT ")) && s.Fault == FaultData421:
			h.Faults.Add(1)
			io.WriteString(c, "421 4.3.2 Service shutting down\r\n")
			return
		case cmd == "DATA" && (s.DataReply != "" || s.Fault != ""):
			io.WriteString(c, "354 go on\r\n")
			data, err := ReadData(r)
			if err != nil {
				return
			}
			h.read(data, secure)
			if s.Fault != "" {
				h.fault(c, s)
				return
			}
			io.WriteString(c, s.DataReply+"\r\n")
		case strings.HasPrefix(cmd, "BDAT ") && s.Fault != "":
			// One chunk, LAST (a copy pushed in one trip, a batch).
			f := strings.Fields(cmd)
			n, err := strconv.Atoi(f[1])
			if err != nil || len(f) != 3 || f[2] != "LAST" {
				return
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return
			}
			h.read(string(b), secure)
			h.fault(c, s)
			return
		case cmd == "QUIT":
			h.Quits.Add(1)
			if s.HangAtQuit {
				io.Copy(io.Discard, r) // never a reply: until the client closes
				return
			}
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

// ReadData reads a message's data from r, after DATA's 354, through the
// line of the lone dot, and returns the lines before it as sent (dots
// still doubled).
func ReadData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		if l == ".\r\n" {
			return b.String(), nil
		}
		b.WriteString(l)
	}
}
