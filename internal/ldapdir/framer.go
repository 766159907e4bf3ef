package ldapdir

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// replyFramer is the connection go-ldap reads the directory's replies
// from (ldap://, ldaps://, and StartTLS's TLS connection: startTLS). It
// hands go-ldap one whole LDAP message at a time, read by the outer
// length and checked first: a message whose elements do not fit their
// lengths, or that is not a message id and an operation, is the
// directory's malformed reply at once. go-ldap's BER reader follows an
// element's length past the message's end and waits for bytes that
// never come, so such a reply was "no answer within …s (ldap.timeout)"
// from a server that had answered at once. A message announcing more
// than MaxPacketBytes, and the connection closed, are said in umbra's
// words too (TestBadDirectoryReplySaidInWords).
//
// A reply under a message id umbra never sent is the directory's error
// too, at once, and ends the connection: go-ldap drops a message for an
// id it has no request for without a word, and the request it answered
// waited out ldap.timeout (TestReplyToUnaskedMessageIDSaidAtOnce).
// go-ldap numbers its requests 1, 2, 3… on a connection, so the framer
// keeps the highest id written (Write): a reply above it answers nothing
// asked. id 0 is the directory's unsolicited notification (RFC 4511
// §4.4).
//
// So is a reply under an id umbra asked and whose answer the framer has
// read whole already (its final reply: a BindResponse, a
// SearchResultDone, anything but an entry, a reference or an
// intermediate response): go-ldap drops it in silence too, and when it
// was the answer to the request waiting now (a directory or a proxy
// mixing ids), that request waited out ldap.timeout
// (TestReplyUnderAnsweredMessageIDSaidAtOnce). The framer keeps the ids
// of the requests written and not yet answered whole (outstanding); a
// reply under an id at or below highest and not among them ends the
// connection at once. A request go-ldap gave up on without its final
// reply (its request timeout) stays outstanding here, and a late answer
// to it is read and dropped by go-ldap; but umbra drops a connection a
// request timed out on (connectionLost), so none is left waiting on it.
type replyFramer struct {
	net.Conn
	pending []byte
	err     error

	mu          sync.Mutex
	written     []byte         // the part of a request written so far, not yet whole
	highest     int64          // the highest message id of a request written
	outstanding map[int64]bool // ids of requests written whose final reply was not read
}

func (f *replyFramer) Read(p []byte) (int, error) {
	if len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		msg, id, op, err := readMessage(f.Conn)
		if err == nil && id != 0 {
			f.mu.Lock()
			highest, asked := f.highest, f.outstanding[id]
			if asked && final(op) {
				delete(f.outstanding, id)
			}
			f.mu.Unlock()
			switch {
			case id > highest:
				err = fmt.Errorf("the directory server sent a reply to message id %d, a request umbra never sent (its last was %d)", id, highest)
			case !asked:
				err = fmt.Errorf("the directory server sent a reply to message id %d, a request already answered (its last reply was read)", id)
			}
		}
		if err != nil {
			f.err = err
			return 0, err
		}
		f.pending = msg
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// Write sends p, go-ldap's request (or a part of one), and notes the
// message id of each request it completes.
func (f *replyFramer) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.written = append(f.written, p...)
	for len(f.written) > 0 {
		id, op, size := requestID(f.written)
		if size == 0 {
			break // not whole yet
		}
		f.highest = max(f.highest, id)
		if id != 0 && op != unbindRequest && op != abandonRequest { // no reply comes to these
			if f.outstanding == nil {
				f.outstanding = map[int64]bool{}
			}
			f.outstanding[id] = true
		}
		f.written = f.written[size:]
	}
	if len(f.written) == 0 {
		f.written = nil
	}
	f.mu.Unlock()
	return f.Conn.Write(p)
}

// Identifier octets of the requests that get no reply (RFC 4511 §4.3,
// §4.11): [APPLICATION 2] and [APPLICATION 16], both primitive.
const (
	unbindRequest  = 0x42
	abandonRequest = 0x50
)

// final reports whether a reply of protocol operation op (its tag
// number, application class) is the last one to its request: all are
// but a search's entries and references and an intermediate response
// (RFC 4511 §4.5.2, §4.13).
func final(op ber.Tag) bool {
	return op != ldap.ApplicationSearchResultEntry && op != ldap.ApplicationSearchResultReference &&
		op != ldap.ApplicationIntermediateResponse
}

// requestID reads the message id of the request at the start of b
// (go-ldap's encoding: a SEQUENCE whose first element is the INTEGER id),
// the identifier octet of its operation (0 when there is none) and the
// request's size, 0 while it is not whole. What is no request of that
// form (go-ldap writes none) is passed over whole, its id 0.
func requestID(b []byte) (id int64, op byte, size int) {
	if len(b) < 2 {
		return 0, 0, 0
	}
	length, n := int(b[1]), 2
	if b[1]&0x80 != 0 {
		k := int(b[1] & 0x7f)
		if k == 0 || k > 4 {
			return 0, 0, len(b)
		}
		if len(b) < 2+k {
			return 0, 0, 0
		}
		length, n = 0, 2+k
		for _, c := range b[2 : 2+k] {
			length = length<<8 | int(c)
		}
	}
	if len(b) < n+length {
		return 0, 0, 0
	}
	size = n + length
	if b[0] != 0x30 || length < 3 || b[n] != 0x02 {
		return 0, 0, size
	}
	l := int(b[n+1])
	if l < 1 || l > 4 || 2+l > length {
		return 0, 0, size
	}
	for _, c := range b[n+2 : n+2+l] {
		id = id<<8 | int64(c)
	}
	if 2+l < length {
		op = b[n+2+l]
	}
	return id, op, size
}

// errClosed is the directory server closing the connection before a
// reply, or between two.
var errClosed = errors.New("the directory server closed the connection")

// readMessage reads one LDAP message (RFC 4511 §4.1.1: a SEQUENCE of a
// message id and a protocol operation) whole, checks it, and returns it
// with its message id and the tag number of its operation.
func readMessage(r io.Reader) ([]byte, int64, ber.Tag, error) {
	var hdr [6]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, 0, errClosed
		}
		return nil, 0, 0, err
	}
	if hdr[0] != 0x30 {
		return nil, 0, 0, malformed(fmt.Sprintf("a message starting with tag 0x%02x, not a SEQUENCE", hdr[0]))
	}
	size, n := int64(hdr[1]), 2
	if hdr[1]&0x80 != 0 {
		k := int(hdr[1] & 0x7f)
		if k == 0 || k > 4 {
			return nil, 0, 0, malformed(fmt.Sprintf("a message length of form 0x%02x", hdr[1]))
		}
		if _, err := io.ReadFull(r, hdr[2:2+k]); err != nil {
			return nil, 0, 0, cutShort(err, "its length")
		}
		size, n = 0, 2+k
		for _, b := range hdr[2 : 2+k] {
			size = size<<8 | int64(b)
		}
	}
	if size > MaxPacketBytes {
		return nil, 0, 0, fmt.Errorf("the directory server sent a reply larger than %d bytes (MaxPacketBytes; it announced %d)", MaxPacketBytes, size)
	}
	msg := make([]byte, n+int(size))
	copy(msg, hdr[:n])
	if got, err := io.ReadFull(r, msg[n:]); err != nil {
		return nil, 0, 0, cutShort(err, fmt.Sprintf("%d of its %d bytes", got, size))
	}
	p, err := ber.DecodePacketErr(msg)
	switch {
	case err != nil:
		return nil, 0, 0, malformed(err.Error())
	case len(p.Children) < 2:
		return nil, 0, 0, malformed(fmt.Sprintf("a message of %d elements, not a message id and an operation", len(p.Children)))
	case p.Children[0].Tag != ber.TagInteger || p.Children[0].ClassType != ber.ClassUniversal:
		return nil, 0, 0, malformed("a message whose first element is no message id")
	}
	id, ok := p.Children[0].Value.(int64)
	if !ok || id < 0 || id > math.MaxInt32 {
		// RFC 4511 §4.1.1: MessageID ::= INTEGER (0 .. maxInt)
		return nil, 0, 0, malformed(fmt.Sprintf("a message id %v out of 0 to 2147483647", p.Children[0].Value))
	}
	return msg, id, p.Children[1].Tag, nil
}

func malformed(detail string) error {
	return fmt.Errorf("the directory server sent a malformed reply (%s)", detail)
}

// cutShort is a read that ended inside a message, after what.
func cutShort(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the directory server closed the connection inside its reply (after %s)", what)
	}
	return err
}

// ownWords is err as umbra says it: go-ldap reports a failed read of
// the directory's reply as "unable to read LDAP response packet: " and
// the reader's error — a bare "EOF" for a closed connection, the BER
// reader's "length … greater than maximum …". The framer's errors are
// umbra's words already; the prefix goes, and go-ldap's own read of a
// StartTLS connection is worded the same way.
func ownWords(err error) string {
	msg := err.Error()
	const lib = "unable to read LDAP response packet: "
	i := strings.Index(msg, lib)
	if i < 0 {
		return msg
	}
	rest := msg[i+len(lib):]
	var announced, limit int64
	switch {
	case rest == "EOF" || rest == "unexpected EOF":
		rest = errClosed.Error()
	case strings.HasPrefix(rest, "length "):
		if _, err := fmt.Sscanf(rest, "length %d greater than maximum %d", &announced, &limit); err == nil {
			rest = fmt.Sprintf("the directory server sent a reply larger than %d bytes (MaxPacketBytes; it announced %d)", limit, announced)
		}
	case !strings.HasPrefix(rest, "the directory server "):
		rest = "reading the directory server's reply: " + rest
	}
	return msg[:i] + rest
}

// startTLS runs the StartTLS extended operation (RFC 4511 §4.14) on conn
// — the request, its response read whole and checked (readMessage), the
// TLS handshake — and returns the TLS connection, which the caller reads
// through a replyFramer. go-ldap's StartTLS swaps the connection under
// its own reader, where no framer can stand. A response other than
// success is the directory's answer (an *ldap.Error); conn's deadline
// bounds it all.
func startTLS(conn net.Conn, cfg *tls.Config) (net.Conn, error) {
	const id = 1
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	packet.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(id), "MessageID"))
	request := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
	request.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
	packet.AppendChild(request)
	if _, err := conn.Write(packet.Bytes()); err != nil {
		return nil, err
	}
	msg, _, _, err := readMessage(conn)
	if err != nil {
		return nil, err
	}
	p, err := ber.DecodePacketErr(msg)
	if err != nil {
		return nil, malformed(err.Error())
	}
	if got, ok := p.Children[0].Value.(int64); !ok || got != id {
		return nil, malformed(fmt.Sprintf("a reply to message %v, not to the StartTLS request (%d)", p.Children[0].Value, id))
	}
	if err := ldap.GetLDAPError(p); err != nil {
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake failed: %w", err)
	}
	return tc, nil
}
