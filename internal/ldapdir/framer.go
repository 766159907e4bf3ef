package ldapdir

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

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
type replyFramer struct {
	net.Conn
	pending []byte
	err     error
}

func (f *replyFramer) Read(p []byte) (int, error) {
	if len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		msg, err := readMessage(f.Conn)
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

// errClosed is the directory server closing the connection before a
// reply, or between two.
var errClosed = errors.New("the directory server closed the connection")

// readMessage reads one LDAP message (RFC 4511 §4.1.1: a SEQUENCE of a
// message id and a protocol operation) whole and checks it.
func readMessage(r io.Reader) ([]byte, error) {
	var hdr [6]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errClosed
		}
		return nil, err
	}
	if hdr[0] != 0x30 {
		return nil, malformed(fmt.Sprintf("a message starting with tag 0x%02x, not a SEQUENCE", hdr[0]))
	}
	size, n := int64(hdr[1]), 2
	if hdr[1]&0x80 != 0 {
		k := int(hdr[1] & 0x7f)
		if k == 0 || k > 4 {
			return nil, malformed(fmt.Sprintf("a message length of form 0x%02x", hdr[1]))
		}
		if _, err := io.ReadFull(r, hdr[2:2+k]); err != nil {
			return nil, cutShort(err, "its length")
		}
		size, n = 0, 2+k
		for _, b := range hdr[2 : 2+k] {
			size = size<<8 | int64(b)
		}
	}
	if size > MaxPacketBytes {
		return nil, fmt.Errorf("the directory server sent a reply larger than %d bytes (MaxPacketBytes; it announced %d)", MaxPacketBytes, size)
	}
	msg := make([]byte, n+int(size))
	copy(msg, hdr[:n])
	if got, err := io.ReadFull(r, msg[n:]); err != nil {
		return nil, cutShort(err, fmt.Sprintf("%d of its %d bytes", got, size))
	}
	p, err := ber.DecodePacketErr(msg)
	switch {
	case err != nil:
		return nil, malformed(err.Error())
	case len(p.Children) < 2:
		return nil, malformed(fmt.Sprintf("a message of %d elements, not a message id and an operation", len(p.Children)))
	case p.Children[0].Tag != ber.TagInteger || p.Children[0].ClassType != ber.ClassUniversal:
		return nil, malformed("a message whose first element is no message id")
	}
	return msg, nil
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
	msg, err := readMessage(conn)
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
