package header

import (
	"encoding/binary"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// decodeCharset decodes the bytes of an encoded word written in charset
// (RFC 2047 §2; an RFC 2231 language after '*' ignored) to UTF-8 as a
// reader shows them; the Windows code page names (cp932, cp936, cp949,
// cp950, cp1250 … cp1258) as their WHATWG ones, and UNKNOWN-8BIT
// (RFC 1428) as the raw bytes, which shown reads in each legacy charset. known is false for a charset decoded here neither
// by hand (UTF-16, UTF-32, UTF-7: readers decode them, and the text
// package's indexes lack UTF-32 and UTF-7) nor by the WHATWG or IANA
// index (an encoding that only stands for "replacement", as ISO-2022-KR
// does there, is not known either): such a word may show anything.
// twoWays is true where readers disagree about the byte order of a
// UTF-16 or UTF-32 word without a byte order mark (RFC 2781 §4.3 says
// big-endian, the WHATWG encoding standard little-endian): alt picks
// little-endian then, and the caller reads the text both ways.
func decodeCharset(charset string, b []byte, alt bool) (text string, known, twoWays bool) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	if i := strings.IndexByte(cs, '*'); i >= 0 {
		cs = cs[:i]
	}
	switch cs {
	case "utf-8", "utf8":
		return string(b), true, false
	case "utf-16", "utf16", "ucs-2", "ucs2", "iso-10646-ucs-2", "csunicode", "unicode":
		s, bom := decodeUTF16(b, !alt)
		return s, true, !bom
	case "utf-16be", "unicodefffe":
		s, _ := decodeUTF16(b, true)
		return s, true, false
	case "utf-16le", "unicodefeff":
		s, _ := decodeUTF16(b, false)
		return s, true, false
	case "utf-32", "utf32", "ucs-4", "ucs4", "iso-10646-ucs-4", "csucs4":
		s, bom := decodeUTF32(b, !alt)
		return s, true, !bom
	case "utf-32be":
		s, _ := decodeUTF32(b, true)
		return s, true, false
	case "utf-32le":
		s, _ := decodeUTF32(b, false)
		return s, true, false
	case "utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7":
		return decodeUTF7(b), true, false
	case "unknown-8bit", "x-unknown-8bit":
		// RFC 1428: bytes of no named charset; shown reads them as
		// raw header bytes, in each legacy charset.
		return string(b), true, false
	case "cp932":
		cs = "shift_jis"
	case "cp936":
		cs = "gbk"
	case "cp949":
		cs = "euc-kr"
	case "cp950":
		cs = "big5"
	default:
		if n, ok := strings.CutPrefix(cs, "cp"); ok && len(n) == 4 && strings.HasPrefix(n, "125") {
			cs = "windows-" + n // cp1250 … cp1258
		}
	}
	e, err := htmlindex.Get(cs)
	if err != nil || e == nil || e == encoding.Replacement {
		e = nil
		for _, idx := range []*ianaindex.Index{ianaindex.MIME, ianaindex.IANA} {
			if f, err := idx.Encoding(cs); err == nil && f != nil && f != encoding.Replacement {
				e = f
				break
			}
		}
	}
	if e == nil {
		return "", false, false
	}
	out, err := e.NewDecoder().Bytes(b)
	if err != nil {
		return string(b), true, false // byte for byte, as before a charset was read
	}
	return string(out), true, false
}

// decodeUTF16 decodes UTF-16 (RFC 2781): a byte order mark decides the
// order (and is dropped), else big says it; an odd final byte or an
// unpaired surrogate is U+FFFD. bom says whether there was a mark.
func decodeUTF16(b []byte, big bool) (string, bool) {
	bom := false
	if len(b) >= 2 && (b[0] == 0xFE && b[1] == 0xFF || b[0] == 0xFF && b[1] == 0xFE) {
		big, bom, b = b[0] == 0xFE, true, b[2:]
	}
	units := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if big {
			units = append(units, binary.BigEndian.Uint16(b[i:]))
		} else {
			units = append(units, binary.LittleEndian.Uint16(b[i:]))
		}
	}
	s := string(utf16.Decode(units))
	if len(b)%2 == 1 {
		s += string(utf8.RuneError)
	}
	return s, bom
}

// decodeUTF32 decodes UTF-32 as decodeUTF16 does UTF-16; a value that is
// no Unicode scalar value is U+FFFD.
func decodeUTF32(b []byte, big bool) (string, bool) {
	bom := false
	if len(b) >= 4 && (b[0] == 0 && b[1] == 0 && b[2] == 0xFE && b[3] == 0xFF || b[0] == 0xFF && b[1] == 0xFE && b[2] == 0 && b[3] == 0) {
		big, bom, b = b[0] == 0, true, b[4:]
	}
	var s strings.Builder
	for i := 0; i+3 < len(b); i += 4 {
		var r uint32
		if big {
			r = binary.BigEndian.Uint32(b[i:])
		} else {
			r = binary.LittleEndian.Uint32(b[i:])
		}
		s.WriteRune(rune(min(r, utf8.MaxRune+1))) // WriteRune writes U+FFFD for an invalid one
	}
	if len(b)%4 != 0 {
		s.WriteRune(utf8.RuneError)
	}
	return s.String(), bom
}

// decodeUTF7 decodes UTF-7 (RFC 2152): bytes as they are, but '+'
// starts modified base64 of UTF-16 big-endian up to the first byte
// that is not base64 ('-' there is dropped), and "+-" is '+'.
func decodeUTF7(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] != '+' {
			out.WriteByte(b[i])
			continue
		}
		i++
		if i < len(b) && b[i] == '-' {
			out.WriteByte('+')
			continue
		}
		var units []uint16
		var bits uint32
		n := 0
		for ; i < len(b); i++ {
			v := b64value(b[i])
			if v < 0 {
				break
			}
			bits, n = bits<<6|uint32(v), n+6
			if n >= 16 {
				n -= 16
				units = append(units, uint16(bits>>n))
				bits &= 1<<n - 1
			}
		}
		out.WriteString(string(utf16.Decode(units)))
		if i < len(b) && b[i] != '-' {
			out.WriteByte(b[i])
		}
	}
	return out.String()
}

func b64value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
