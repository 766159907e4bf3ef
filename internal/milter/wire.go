package milter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// Commands (MTA to milter), Sendmail's SMFIC_*.
const (
	cmdAbort   = 'A'
	cmdBody    = 'B'
	cmdConnect = 'C'
	cmdMacro   = 'D'
	cmdEOB     = 'E'
	cmdHelo    = 'H'
	cmdHeader  = 'L'
	cmdMail    = 'M'
	cmdEOH     = 'N'
	cmdOptNeg  = 'O'
	cmdQuit    = 'Q'
	cmdRcpt    = 'R'
	cmdData    = 'T'
)

// Replies (milter to MTA), Sendmail's SMFIR_*.
const (
	repAddRcpt    = '+'
	repDelRcpt    = '-'
	repAddRcptPar = '2'
	repAccept     = 'a'
	repReplBody   = 'b'
	repContinue   = 'c'
	repDiscard    = 'd'
	repChgFrom    = 'e'
	repAddHeader  = 'h'
	repInsHeader  = 'i'
	repChgHeader  = 'm'
	repProgress   = 'p'
	repQuarantine = 'q'
	repReject     = 'r'
	repSkip       = 's'
	repTempfail   = 't'
	repReplyCode  = 'y'
)

// Actions (SMFIF_*) a milter may ask for in negotiation.
const (
	actAddHeaders = 1 << 0 // SMFIF_ADDHDRS: add and insert headers
	actChgBody    = 1 << 1 // SMFIF_CHGBODY
	actAddRcpt    = 1 << 2 // SMFIF_ADDRCPT
	actDelRcpt    = 1 << 3 // SMFIF_DELRCPT
	actChgHeaders = 1 << 4 // SMFIF_CHGHDRS: change and delete headers
	actQuarantine = 1 << 5 // SMFIF_QUARANTINE
	actChgFrom    = 1 << 6 // SMFIF_CHGFROM (not offered)
	actAddRcptPar = 1 << 7 // SMFIF_ADDRCPT_PAR (not offered)
	actSetSymList = 1 << 8 // SMFIF_SETSYMLIST: the milter names the macros it wants

	// offeredActions: every action umbra applies.
	offeredActions = actAddHeaders | actChgBody | actAddRcpt | actDelRcpt | actChgHeaders | actQuarantine | actSetSymList
)

// Protocol steps (SMFIP_*): events a milter does not want, and replies
// it will not send.
const (
	protoNoConnect = 1 << 0
	protoNoHelo    = 1 << 1
	protoNoMail    = 1 << 2
	protoNoRcpt    = 1 << 3
	protoNoBody    = 1 << 4
	protoNoHeaders = 1 << 5
	protoNoEOH     = 1 << 6
	protoNRHeader  = 1 << 7
	protoNoUnknown = 1 << 8
	protoNoData    = 1 << 9
	protoSkip      = 1 << 10
	protoRcptRej   = 1 << 11 // not offered: umbra sends accepted recipients only
	protoNRConnect = 1 << 12
	protoNRHelo    = 1 << 13
	protoNRMail    = 1 << 14
	protoNRRcpt    = 1 << 15
	protoNRData    = 1 << 16
	protoNRUnknown = 1 << 17
	protoNREOH     = 1 << 18
	protoNRBody    = 1 << 19
	protoHdrLeadSp = 1 << 20 // not offered: values are sent without their leading space
	protoMDS256K   = 1 << 28
	protoMDS1M     = 1 << 29

	// offeredProtocol: every step umbra can leave out.
	offeredProtocol = protoNoConnect | protoNoHelo | protoNoMail | protoNoRcpt | protoNoBody | protoNoHeaders | protoNoEOH |
		protoNRHeader | protoNoUnknown | protoNoData | protoSkip | protoNRConnect | protoNRHelo | protoNRMail | protoNRRcpt |
		protoNRData | protoNRUnknown | protoNREOH | protoNRBody
)

// protocolVersion is the milter protocol umbra speaks.
const protocolVersion = 6

// maxPacket bounds one packet a milter sends (its 4-octet length): a
// replacement body chunk of the largest negotiable size with room to
// spare. A milter's word never makes umbra allocate more.
const maxPacket = 1<<20 + 64

// chunkSize is the body chunk umbra sends (MILTER_CHUNK_SIZE).
const chunkSize = 65535

type packet struct {
	code byte
	data []byte
}

var errProtocol = errors.New("milter protocol error")

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, a...))
}

// readPacket reads one packet. A length of 0 (no code) or above
// maxPacket is a protocol error.
func readPacket(r io.Reader) (packet, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return packet{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxPacket {
		return packet{}, protoErr("packet length %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return packet{}, err
	}
	return packet{code: buf[0], data: buf[1:]}, nil
}

// appendPacket encodes one packet.
func appendPacket(b []byte, code byte, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)+1))
	b = append(b, code)
	return append(b, data...)
}

// cstrings splits NUL-terminated strings; the data must end in NUL.
func cstrings(data []byte) ([]string, error) {
	if len(data) == 0 || data[len(data)-1] != 0 {
		return nil, protoErr("string not NUL-terminated")
	}
	parts := bytes.Split(data[:len(data)-1], []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out, nil
}

func appendCString(b []byte, s string) []byte {
	s = strings.ReplaceAll(s, "\x00", "")
	return append(append(b, s...), 0)
}

// negotiation is what the milter's SMFIC_OPTNEG reply settled.
type negotiation struct {
	version  uint32
	actions  uint32 // requested actions umbra offered
	protocol uint32 // requested steps umbra offered
	ignored  uint32 // actions the milter asked for that umbra did not offer
	// macros the milter asked for per stage (SMFIF_SETSYMLIST), by
	// stage index; nil for a stage: umbra's defaults.
	macros map[uint32][]string
}

// Macro stages of SMFIF_SETSYMLIST (SMFIM_*).
const (
	stageConnect = 0
	stageHelo    = 1
	stageMail    = 2
	stageRcpt    = 3
	stageData    = 4
	stageEOM     = 5
	stageEOH     = 6
)

// parseOptNeg decodes a milter's negotiation reply. A version outside
// 2…6 is refused; actions and steps umbra did not offer are masked off
// (Postfix does the same), so the milter's later use of them is
// ignored.
func parseOptNeg(p packet) (negotiation, error) {
	var n negotiation
	if p.code != cmdOptNeg {
		return n, protoErr("negotiation reply %q", p.code)
	}
	if len(p.data) < 12 {
		return n, protoErr("negotiation reply of %d octets", len(p.data))
	}
	n.version = binary.BigEndian.Uint32(p.data)
	if n.version < 2 || n.version > protocolVersion {
		return n, protoErr("milter protocol version %d", n.version)
	}
	acts := binary.BigEndian.Uint32(p.data[4:])
	n.actions, n.ignored = acts&offeredActions, acts&^offeredActions
	n.protocol = binary.BigEndian.Uint32(p.data[8:]) & offeredProtocol
	if n.version < 6 {
		n.protocol &^= protoSkip | protoNRConnect | protoNRHelo | protoNRMail | protoNRRcpt | protoNRData | protoNRUnknown | protoNREOH | protoNRBody
		if n.version < 4 {
			n.protocol |= protoNoData
		}
	}
	rest := p.data[12:]
	for len(rest) > 0 {
		if len(rest) < 5 {
			return n, protoErr("truncated macro list")
		}
		stage := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			return n, protoErr("macro list not NUL-terminated")
		}
		if stage <= stageEOH && n.actions&actSetSymList != 0 {
			if n.macros == nil {
				n.macros = map[uint32][]string{}
			}
			n.macros[stage] = parseMacroNames(string(rest[:end]))
		}
		rest = rest[end+1:]
	}
	return n, nil
}

// parseMacroNames splits a SETSYMLIST list ("i {auth_authen} j") into
// names in braces form; single letters stay as they are.
func parseMacroNames(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		out = append(out, f)
	}
	return out
}

// reply is one parsed milter reply.
type reply struct {
	code byte
	// smtp: the refusal of SMFIR_REPLYCODE.
	smtp *gosmtp.SMTPError
	// Modifications.
	index       uint32 // CHGHEADER / INSHEADER
	name, value string // header name and value
	rcpt        string // ADDRCPT / DELRCPT (angle brackets removed)
	reason      string // QUARANTINE
	body        []byte // REPLBODY chunk
}

// parseReply decodes one packet a milter sent in reply to an event.
func parseReply(p packet) (reply, error) {
	r := reply{code: p.code}
	switch p.code {
	case repAccept, repContinue, repDiscard, repReject, repTempfail, repSkip, repProgress:
		// No data. A plain action that carries some is not one libmilter
		// makes: the milter is broken or out of step, and its word is
		// not taken (the failure policy answers, as in Postfix).
		if len(p.data) != 0 {
			return r, protoErr("reply %q with %d octets of data", p.code, len(p.data))
		}
	case repReplyCode:
		e, err := parseReplyCode(p.data)
		if err != nil {
			return r, err
		}
		r.smtp = e
	case repAddHeader:
		s, err := cstrings(p.data)
		if err != nil || len(s) != 2 {
			return r, protoErr("add header: malformed")
		}
		r.name, r.value = s[0], s[1]
	case repChgHeader, repInsHeader:
		if len(p.data) < 4 {
			return r, protoErr("header change without an index")
		}
		r.index = binary.BigEndian.Uint32(p.data)
		s, err := cstrings(p.data[4:])
		if err != nil || len(s) != 2 {
			return r, protoErr("header change: malformed")
		}
		r.name, r.value = s[0], s[1]
	case repAddRcpt, repDelRcpt, repAddRcptPar, repChgFrom:
		s, err := cstrings(p.data)
		if err != nil || len(s) < 1 || (p.code != repAddRcptPar && p.code != repChgFrom && len(s) != 1) {
			return r, protoErr("address change: malformed")
		}
		r.rcpt = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s[0]), "<"), ">")
	case repQuarantine:
		s, err := cstrings(p.data)
		if err != nil || len(s) != 1 {
			return r, protoErr("quarantine: malformed")
		}
		r.reason = s[0]
	case repReplBody:
		r.body = p.data
	default:
		return r, protoErr("unknown reply %q", p.code)
	}
	return r, nil
}

// parseReplyCode decodes SMFIR_REPLYCODE: "Nxx text" or "Nxx x.y.z
// text", NUL-terminated, possibly several lines ("550-…\r\n550 …") as
// libmilter's smfi_setmlreply makes them, with "%%" for "%". The code
// must be 4xx or 5xx and an enhanced status code must be of the same
// class (Postfix checks the same); without one, umbra adds x.7.1. A code
// RFC 5321 does not define (599, 480) is answered as 550 or 451
// (definedCode), its enhanced code and text kept.
func parseReplyCode(data []byte) (*gosmtp.SMTPError, error) {
	if len(data) == 0 || data[len(data)-1] != 0 {
		return nil, protoErr("reply code: not NUL-terminated")
	}
	text := string(data[:len(data)-1])
	if strings.IndexByte(text, 0) >= 0 {
		return nil, protoErr("reply code: NUL in text")
	}
	text = strings.TrimRight(text, "\r\n")
	// A bare CR breaks a line as CRLF and LF do: no CR is left in the text.
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"), "\n")
	if len(lines) > 32 {
		return nil, protoErr("reply code: %d lines", len(lines))
	}
	var code int
	var enh gosmtp.EnhancedCode
	var out []string
	for i, l := range lines {
		// The code as sent, up to the first space or hyphen: named so
		// in an error ("0550", not the 55 of its first three digits).
		tok := l
		if j := strings.IndexAny(l, " -"); j >= 0 {
			tok = l[:j]
		}
		if len(tok) != 3 || !isDigits(tok) {
			return nil, protoErr("reply code %q in line %q", tok, l)
		}
		c := int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
		if i == 0 {
			code = c
			if c < 400 || c > 599 {
				return nil, protoErr("reply code %q is not 4xx or 5xx", tok)
			}
		} else if c != code {
			return nil, protoErr("reply code: lines with %d and %d", code, c)
		}
		rest := l[3:]
		switch {
		case rest == "":
		case rest[0] == ' ' || (rest[0] == '-' && i < len(lines)-1):
			rest = rest[1:]
		default:
			return nil, protoErr("reply code: line %q", l)
		}
		if e, tail, ok := cutEnhanced(rest); ok {
			if e[0] != code/100 {
				return nil, protoErr("reply code %d with enhanced code %d.%d.%d", code, e[0], e[1], e[2])
			}
			if i == 0 {
				enh = e
			}
			rest = tail
		}
		// A control character stays in the text: the SMTP layer writes
		// every byte outside printable ASCII of a reply as \xNN (and
		// the log escapes it), so the refusal is kept as sent.
		out = append(out, strings.ReplaceAll(rest, "%%", "%"))
	}
	if enh == (gosmtp.EnhancedCode{}) {
		enh = gosmtp.EnhancedCode{code / 100, 7, 1}
	}
	msg := strings.Join(out, "\n")
	if strings.TrimSpace(msg) == "" {
		msg = "Command rejected"
	}
	return &gosmtp.SMTPError{Code: definedCode(code), EnhancedCode: enh, Message: msg}, nil
}

// definedCode is code if RFC 5321 (§4.2.2, §4.2.3) defines it, else the
// generic code of its class — 451 (local error), 550 (not taken) —
// which every command's replies may be: a client that knows only the
// defined codes reads the refusal right. The enhanced code and the text
// stay the milter's.
func definedCode(code int) int {
	switch code {
	case 421, 450, 451, 452, 455, 500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555:
		return code
	}
	if code < 500 {
		return 451
	}
	return 550
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cutEnhanced takes an RFC 3463 status code ("5.7.1 ") off the front.
func cutEnhanced(s string) (gosmtp.EnhancedCode, string, bool) {
	f, tail, _ := strings.Cut(s, " ")
	parts := strings.Split(f, ".")
	if len(parts) != 3 {
		return gosmtp.EnhancedCode{}, s, false
	}
	var e gosmtp.EnhancedCode
	for i, p := range parts {
		if p == "" || len(p) > 3 || !isDigits(p) {
			return gosmtp.EnhancedCode{}, s, false
		}
		n := 0
		for j := 0; j < len(p); j++ {
			n = n*10 + int(p[j]-'0')
		}
		e[i] = n
	}
	if e[0] != 2 && e[0] != 4 && e[0] != 5 {
		return gosmtp.EnhancedCode{}, s, false
	}
	return e, tail, true
}
