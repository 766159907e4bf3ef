package tracking

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

// appendEntry appends e as one JSON line, byte for byte what
// encoding/json's Encoder with SetEscapeHTML(false) writes for an Entry,
// with what a terminal would act on escaped as jsonsafe.Escape does
// (FuzzAppendEntry holds it to that), without reflection: a line is
// written for every recipient of every message. ok is false when the
// entry cannot be written as JSON (a time outside years 0–9999, a delay
// that is not a number), as Encode fails on it.
func appendEntry(b []byte, e *Entry) (_ []byte, ok bool) {
	if y := e.Time.Year(); y < 0 || y > 9999 || math.IsNaN(e.Delay) || math.IsInf(e.Delay, 0) {
		return appendEntryReflect(b, e)
	}
	if _, off := e.Time.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return appendEntryReflect(b, e)
	}
	start := len(b)
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","event":`...)
	b = appendJSONString(b, e.Event)
	b = append(b, `,"msg_id":`...)
	b = appendJSONString(b, e.ID)
	b = appendOmit(b, `,"message_id":`, e.MessageID)
	b = appendOmit(b, `,"org_id":`, e.OrgID)
	b = append(b, `,"sender":`...)
	b = appendJSONString(b, e.Sender)
	if len(e.Recipients) > 0 {
		b = append(b, `,"recipients":[`...)
		for i, r := range e.Recipients {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r)
		}
		b = append(b, ']')
	}
	if e.RecipientsMore != 0 {
		b = append(b, `,"recipients_more":`...)
		b = strconv.AppendInt(b, int64(e.RecipientsMore), 10)
	}
	if e.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, e.Size, 10)
	}
	b = appendOmit(b, `,"connector":`, e.Connector)
	b = appendOmit(b, `,"client_ip":`, e.ClientIP)
	b = appendOmit(b, `,"helo":`, e.Helo)
	b = appendOmit(b, `,"queue":`, e.Queue)
	b = appendOmit(b, `,"next_hop":`, e.NextHop)
	b = appendOmit(b, `,"reply":`, e.Reply)
	if e.Delay != 0 {
		b = append(b, `,"delay":`...)
		b = appendJSONFloat(b, e.Delay)
	}
	b = appendOmit(b, `,"action":`, e.Action)
	b = appendOmit(b, `,"actor":`, e.Actor)
	b = appendOmit(b, `,"original":`, e.Original)
	b = appendOmit(b, `,"original_message_id":`, e.OriginalMessageID)
	if e.LostFrom != nil {
		if y := e.LostFrom.Year(); y < 0 || y > 9999 {
			return appendEntryReflect(b[:start], e)
		}
		if _, off := e.LostFrom.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
			return appendEntryReflect(b[:start], e)
		}
		b = append(b, `,"lost_from":"`...)
		b = e.LostFrom.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if e.Lost != 0 {
		b = append(b, `,"lost":`...)
		b = strconv.AppendInt(b, int64(e.Lost), 10)
	}
	return append(b, "}\n"...), true
}

// appendEntryReflect is the encoding/json path, for what appendEntry
// does not write itself.
func appendEntryReflect(b []byte, e *Entry) ([]byte, bool) {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(e.textBytes()) != nil {
		return b, false
	}
	line := jsonsafe.Escape(buf.Bytes()[len(b):])
	return append(buf.Bytes()[:len(b)], line...), true
}

// textBytes is e with jsonsafe.TextBytes applied to every string: a
// byte that is not UTF-8 written as the text \xNN.
func (e *Entry) textBytes() *Entry {
	c := *e
	for _, p := range []*string{&c.Event, &c.ID, &c.MessageID, &c.OrgID, &c.Sender, &c.Connector, &c.ClientIP, &c.Helo,
		&c.Queue, &c.NextHop, &c.Reply, &c.Action, &c.Actor, &c.Original, &c.OriginalMessageID} {
		*p = jsonsafe.TextBytes(*p)
	}
	if c.Recipients != nil {
		c.Recipients = make([]string, len(e.Recipients))
		for i, r := range e.Recipients {
			c.Recipients[i] = jsonsafe.TextBytes(r)
		}
	}
	return &c
}

func appendOmit(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendJSONFloat is encoding/json's float64 format: shortest
// representation, exponent form outside [1e-6, 1e21) with a one-digit
// negative exponent written without its leading zero.
func appendJSONFloat(b []byte, f float64) []byte {
	abs, format := math.Abs(f), byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding of
// jsonsafe.TextBytes(s) without HTML escaping — quotes, backslash and
// control characters escaped, a byte that is not UTF-8 as the text \xNN
// (\\xNN in the line), a literal backslash run before what reads as an
// escape doubled — and what jsonsafe.Escape escapes besides: DEL and
// every character that is not printable (C1 controls, bidirectional
// and zero-width format characters, U+2028 and U+2029, U+FFFD), as
// \uXXXX (a surrogate pair above U+FFFF).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			if c == '\\' {
				// A run of literal backslashes before what reads as an
				// escape is written doubled (jsonsafe.TextBytes).
				end, double := jsonsafe.BackslashRunBeforeEscape(s, i)
				for n := end - i; n > 0; n-- {
					b = append(b, '\\', '\\')
					if double {
						b = append(b, '\\', '\\')
					}
				}
				i = end
				start = i
				continue
			}
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			// A byte that is not UTF-8: the text \xNN (jsonsafe.TextBytes),
			// which says which byte it was, where encoding/json
			// writes U+FFFD.
			b = append(b, s[start:i]...)
			b = append(b, '\\', '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&0xF])
			i++
			start = i
			continue
		}
		if !jsonsafe.Raw(r) {
			b = append(b, s[start:i]...)
			b = appendRuneEscape(b, r)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendRuneEscape appends r as \uXXXX, a surrogate pair above U+FFFF.
func appendRuneEscape(b []byte, r rune) []byte {
	if r > 0xffff {
		r -= 0x10000
		b = appendU16(b, 0xd800+(r>>10)&0x3ff)
		return appendU16(b, 0xdc00+r&0x3ff)
	}
	return appendU16(b, r)
}

func appendU16(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}

// lineBufs are the buffers lines are built in (one per concurrent
// writer), kept between events.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Batch implements queue.EventBatcher: the lines of the events given to
// the batch are built as they come and written with one write(2) when it
// ends (the results of one delivery attempt: a line per recipient).
func (l *Log) Batch() (queue.Events, func()) {
	b := &batch{l: l}
	return b, b.flush
}

type batch struct {
	l     *Log
	buf   *[]byte
	first time.Time
}

func (b *batch) Event(name string, m *queue.Message, r *queue.Recipient, reply string) {
	e := b.l.entry(name, m, r, reply)
	if b.buf == nil {
		b.buf = lineBufs.Get().(*[]byte)
		*b.buf = (*b.buf)[:0]
		b.first = e.Time
	}
	*b.buf, _ = appendEntry(*b.buf, &e)
}

func (b *batch) flush() {
	if b.buf == nil {
		return
	}
	if len(*b.buf) > 0 {
		b.l.writeLines(*b.buf, b.first)
	}
	if cap(*b.buf) <= 64<<10 {
		lineBufs.Put(b.buf)
	}
	b.buf = nil
}
