package filelimit

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BOM is the UTF-8 byte-order mark some editors write at the start of
// a file saved as "UTF-8 with BOM".
const BOM = "\ufeff"

// TrimBOM is data without a leading UTF-8 byte-order mark: every
// line-based file umbra reads (credentials, recipients, hosts_file)
// passes its bytes, or its first line, through here, so that the first
// entry of such a file matches as written.
func TrimBOM(data []byte) []byte { return bytes.TrimPrefix(data, []byte(BOM)) }

// TrimBOMString is TrimBOM for a first line already read.
func TrimBOMString(line string) string { return strings.TrimPrefix(line, BOM) }

// InvisibleStart reports the invisible character an entry's name begins
// with (a zero-width space, a no-break space, a byte-order mark not at
// the file's start, any other format or non-ASCII space character): such
// a name can never be typed as written, so the readers refuse it at its
// line instead of keeping an entry that silently never matches.
func InvisibleStart(s string) (rune, bool) {
	r, _ := utf8.DecodeRuneInString(s)
	if r < 0x80 || r == utf8.RuneError {
		return 0, false
	}
	if unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cc) || unicode.IsSpace(r) {
		return r, true
	}
	return 0, false
}
