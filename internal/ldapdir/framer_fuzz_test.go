package ldapdir

import (
	"bytes"
	"encoding/binary"
	"math"
	"net"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// sinkConn takes what the framer writes and keeps it: the fuzz targets
// check what the framer reads of go-ldap's requests, not a directory.
type sinkConn struct {
	net.Conn
	out bytes.Buffer
}

func (c *sinkConn) Write(p []byte) (int, error) { return c.out.Write(p) }

// ldapRequest is a request as go-ldap encodes one (its message id, then
// an operation): a search-like SEQUENCE whose filler makes the message
// pad bytes longer, so the outer length takes every BER form go-ldap
// writes (short, and long of 1, 2 and 3 octets).
func ldapRequest(id int64, pad int) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 3, nil, "Search Request")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(make([]byte, pad)), "baseObject"))
	msg.AppendChild(op)
	return msg.Bytes()
}

// The framer's reading of the requests go-ldap writes (replyFramer.Write,
// requestID) finds the id of every one, however the writes cut them —
// at every byte, through a long-form length, through the id — so that
// no reply to a request asked is ever taken for one to a request never
// sent; and on bytes that are no request it neither panics nor holds
// more than it was given.
func FuzzFramerRequestIDs(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}, uint16(10), []byte{1})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff}, uint16(200), []byte{1, 1, 1, 1})
	f.Add([]byte{0, 0, 0, 0x80, 0, 0, 0x80, 0}, uint16(300), []byte{2, 3})
	f.Add([]byte{0, 0, 0, 5}, uint16(65535), []byte{4, 1, 250})
	f.Fuzz(func(t *testing.T, ids []byte, pad uint16, cuts []byte) {
		// The requests: ids of 0 to maxInt (RFC 4511 §4.1.1), four
		// octets each, padded by pad and by their index.
		var stream []byte
		var want int64
		asked := map[int64]bool{}
		for i := 0; i+4 <= len(ids) && i < 64; i += 4 {
			id := int64(binary.BigEndian.Uint32(ids[i:]) & math.MaxInt32)
			stream = append(stream, ldapRequest(id, int(pad)+i)...)
			want = max(want, id)
			if id != 0 {
				asked[id] = true
			}
		}
		sink := &sinkConn{}
		fr := &replyFramer{Conn: sink}
		rest := stream
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(cuts) > 0 {
				n = min(n, 1+int(cuts[i%len(cuts)]))
			}
			if _, err := fr.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if fr.highest != want {
			t.Fatalf("highest id read %d, the requests' highest %d", fr.highest, want)
		}
		if len(fr.written) != 0 {
			t.Fatalf("%d bytes held after whole requests", len(fr.written))
		}
		// Each awaits its reply (outstanding), and nothing else does.
		if len(fr.outstanding) != len(asked) {
			t.Fatalf("%d requests await a reply, %d were written", len(fr.outstanding), len(asked))
		}
		for id := range asked {
			if !fr.outstanding[id] {
				t.Fatalf("request %d written, its reply not awaited", id)
			}
		}
		if !bytes.Equal(sink.out.Bytes(), stream) {
			t.Fatal("the framer did not write the requests as given")
		}

		// Bytes that are no request: requestID reports a size within
		// what it was given, and an id within maxInt.
		for _, b := range [][]byte{ids, cuts, append(ids, cuts...)} {
			id, _, size := requestID(b)
			if size < 0 || size > len(b) || id < 0 || id > math.MaxInt32 {
				t.Fatalf("requestID(%x) = %d, %d", b, id, size)
			}
		}
	})
}

// Every reply a directory may send under a message id of 0 to maxInt is
// read with that id (readMessage), and none is refused for its id when
// a request of that id awaits its reply (a higher one written or not);
// the same reply again, once the first was the request's final one, is
// refused (its request was answered whole); on other bytes readMessage
// neither panics nor returns what it was not given.
func FuzzFramerReplyIDs(f *testing.F) {
	f.Add(uint32(1), []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add(uint32(math.MaxInt32), []byte{0x30, 0x84, 0x00, 0x00, 0x00, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00})
	f.Add(uint32(0), []byte{0x30, 0x07, 0x02, 0x05, 0x00, 0x80, 0x00, 0x00, 0x00, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, raw uint32, junk []byte) {
		id := int64(raw & math.MaxInt32)
		reply := ldapResponse(id, 5)
		msg, got, _, err := readMessage(bytes.NewReader(reply))
		if err != nil || got != id || !bytes.Equal(msg, reply) {
			t.Fatalf("reply under id %d read as %d, %v", id, got, err)
		}
		for _, asked := range []int64{id, id + 1} {
			fr := &replyFramer{Conn: &readerConn{r: bytes.NewReader(append(append([]byte(nil), reply...), reply...))},
				outstanding: map[int64]bool{id: true}}
			fr.highest = asked
			buf := make([]byte, len(reply))
			if _, err := fr.Read(buf); err != nil {
				t.Fatalf("reply under id %d, requests up to %d written: %v", id, asked, err)
			}
			if _, err := fr.Read(buf); (err == nil) != (id == 0) {
				t.Fatalf("a second final reply under id %d: %v, want it refused (but for id 0, a notification)", id, err)
			}
		}

		msg, got, _, err = readMessage(bytes.NewReader(junk))
		if err == nil && (got < 0 || got > math.MaxInt32 || !bytes.HasPrefix(junk, msg)) {
			t.Fatalf("readMessage(%x) = %x, %d", junk, msg, got)
		}
	})
}

// readerConn is a connection whose replies are r's bytes.
type readerConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
