package tlspolicy

import (
	"encoding/base64"
	"errors"
	"net"
	"strings"

	"umbra/internal/mailaddr"
)

// domainKey is a domain or host name as every map and lookup of the
// package takes it: without a final dot, ASCII case folded and an
// internationalised label as its A-label (mailaddr.DomainKey), so
// "BÜCHER.example." is "xn--bcher-kva.example", the one name DNS holds.
// An IDNA-invalid name keys only itself.
func domainKey(d string) string { return mailaddr.DomainKey(strings.TrimSuffix(d, ".")) }

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// base64Lines encodes b in lines of 76 characters (RFC 2045).
func base64Lines(b []byte) []byte {
	s := base64.StdEncoding.EncodeToString(b)
	out := make([]byte, 0, len(s)+len(s)/76*2+2)
	for len(s) > 76 {
		out = append(out, s[:76]...)
		out = append(out, '\r', '\n')
		s = s[76:]
	}
	out = append(out, s...)
	return append(out, '\r', '\n')
}
