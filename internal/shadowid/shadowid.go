package shadowid

// MaxLen bounds an id.
const MaxLen = 64

// Syntax is the form, for error texts.
const Syntax = "1 to 64 characters [A-Za-z0-9._-]"

// Valid reports whether id has the form of Syntax.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
