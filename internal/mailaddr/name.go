package mailaddr

import "strings"

// Name is the comparison key of a domain name as a configuration or DNS
// writes it: Domain's key (ASCII case folded, every internationalised
// label its lower-case A-label) of the name without its final dot (the
// root, as DNS writes a fully qualified name; "." alone is kept, no
// name). It is the one normalisation of a domain written in the
// configuration: "Bücher.Example." and "xn--bcher-kva.example" are one
// name. An internationalised label IDNA refuses is Domain's error.
func Name(s string) (string, error) {
	if len(s) > 1 {
		s = strings.TrimSuffix(s, ".")
	}
	return Domain(s)
}

// NameKey is Name's key, or for a name Name refuses, Fold's of it
// without its final dot: an invalid name then matches only itself.
func NameKey(s string) string {
	if len(s) > 1 {
		s = strings.TrimSuffix(s, ".")
	}
	return DomainKey(s)
}
