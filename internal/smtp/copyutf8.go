package smtp

import (
	"bytes"

	"umbra/internal/queue"
)

// copyNeedsUTF8 reports whether the shadow copy of m, a message received
// with SMTPUTF8, needs the extension at the shadow server: for what it
// holds that is not ASCII, as delivery decides for a next hop (package
// delivery eightbit.go, RFC 6531 §3.2) — its envelope sender, a
// recipient, or a byte above 127 in its header section. A message
// received with SMTPUTF8 and all ASCII there goes, without the
// parameter, to a shadow server that does not offer it (shadow30 item
// 4: such a copy was refused, and with reject_on_shadow_failure the
// message). head is the start of the body; whole: it is the whole body.
// A header section that does not end within a head that is not the
// whole body is not known to be ASCII: the copy needs the extension.
// Every push of a copy decides by it: alone (PushCopy, PushCopyBody; one
// round trip or pipelined) and in a batch record (CopyRecord).
func copyNeedsUTF8(m *queue.Message, head []byte, whole bool) bool {
	if !m.UTF8 {
		return false
	}
	if !asciiString(m.From) {
		return true
	}
	for _, r := range m.Rcpts {
		if !asciiString(r.Addr) {
			return true
		}
	}
	end := headerEnd(head)
	if end < 0 {
		if !whole {
			return true
		}
		end = len(head)
	}
	return queue.Has8bit(head[:end])
}

// headerEnd is the length of the header section that starts head (up to
// the empty line that ends it), or -1 when head holds no such line.
func headerEnd(head []byte) int {
	if bytes.HasPrefix(head, []byte("\r\n")) || bytes.HasPrefix(head, []byte("\n")) {
		return 0
	}
	i := bytes.Index(head, []byte("\n\r\n"))
	j := bytes.Index(head, []byte("\n\n"))
	switch {
	case i < 0:
		return j
	case j < 0 || i < j:
		return i
	}
	return j
}

func asciiString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
