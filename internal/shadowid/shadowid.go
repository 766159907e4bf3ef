// Package shadowid is the one form of the ids of shadow redundancy: a
// shadow copy's message id and a transport database id, as the shadow
// verbs carry them (XSHADOW=, XSHADOWCOPY=, DB=, discard ids), as a
// reply presents them (XSHADOW's database id) and as the operator names
// them (umbra shadow forget-database). Every place that admits such an
// id checks it here, so an id recorded from one is one the others take.
// It imports no umbra package: any package may use it.
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
