package tlspolicy

import (
	"encoding/base64"
	"errors"
	"net"
)

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
