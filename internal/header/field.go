package header

// Kinds of line start, as FieldStart finds them.
const (
	// Field: the line starts a header field.
	Field = iota
	// NotField: the line is no header field, whatever follows.
	NotField
	// Undecided: no colon yet; the rest of the line decides (a whole
	// line that ends undecided is no header field).
	Undecided
)

// FieldStart is the one place that decides whether a line starts a
// header field: a name (printable US-ASCII but ':', at least one
// character), optional blanks (space, tab; RFC 5322 §4.5.3's obsolete
// syntax), then ':'. nameLen is the
// name's length without those blanks (Field only). A line starting with
// a blank is a continuation or nothing, never a field. The receive side
// ends the header section at the first line that is neither a field nor
// a continuation (package smtp) and the milter replay splits the same
// header section into the same fields with it (package milter), so what
// a milter is shown is what umbra edits, stores and delivers.
func FieldStart(line []byte) (kind, nameLen int) {
	name, blank := 0, false
	for _, c := range line {
		switch {
		case c == ':':
			if name > 0 {
				return Field, name
			}
			return NotField, 0
		case c == ' ' || c == '\t':
			if name == 0 {
				return NotField, 0
			}
			blank = true
		case c > 32 && c < 127 && !blank:
			name++
		default:
			return NotField, 0
		}
	}
	return Undecided, 0
}
