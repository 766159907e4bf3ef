package smtp

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"
)

// ehloReplyConn is a next hop in memory that greets and answers EHLO with
// reply; a read with nothing to give is the end of the connection.
type ehloReplyConn struct {
	scriptConn
	reply []byte
}

func (c *ehloReplyConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("EHLO ")) {
		c.avail = append(c.avail, c.reply...)
	}
	return len(b), nil
}

// FuzzEHLOReply: a next hop's EHLO reply is anyone's bytes. The client
// reads it or fails, never panics; what it makes of the keywords is the
// same whether go-smtp read the reply itself or the prelude read it
// first (opportunistic TLS, not offered) and replayed it; and what umbra
// reads from them is bounded: a database digest of 32 hex digits or
// none, a batch limit within MaxBatchBytes, a shadow version it speaks.
func FuzzEHLOReply(f *testing.F) {
	for _, s := range []string{
		"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-XSHADOW 8\r\n250-XSHADOWDB 0123456789ABCDEF0123456789abcdef\r\n250 CHUNKING\r\n",
		"250-mx.example\r\n250-SIZE -5\r\n250-XSHADOW 99\r\n250 XSHADOWDB zz\r\n",
		"250 mx.example\r\n", "250-x\r\n250-STARTTLS\r\n250 SIZE\r\n", "250-x\r\n250- \r\n250 \r\n", "550 go away\r\n",
		"250-x\n250 SIZE 99999999999999999999\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		var got [2]map[string]string
		for i, policy := range []TLSPolicy{TLSNone, TLSOpportunistic} {
			conn := &ehloReplyConn{scriptConn: scriptConn{avail: []byte("220 mx.example ESMTP\r\n")}, reply: reply}
			c, err := NewClient(context.Background(), conn, ClientOptions{LocalName: "umbra.test", TLS: policy})
			if err != nil {
				if i == 1 && got[0] != nil && !strings.Contains(strings.ToUpper(string(reply)), "STARTTLS") {
					t.Fatalf("read plainly, refused after the prelude read it: %v", err)
				}
				continue
			}
			got[i] = map[string]string{}
			for _, k := range []string{"PIPELINING", "SIZE", "XSHADOW", "XSHADOWDB", "CHUNKING", "DSN", "SMTPUTF8", "8BITMIME", "REQUIRETLS"} {
				if ok, v := c.Extension(k); ok {
					got[i][k] = v
				}
			}
			if d := c.PeerDatabaseDigest(); d != "" {
				if _, err := hex.DecodeString(d); err != nil || len(d) != 32 || d != strings.ToLower(d) {
					t.Fatalf("database digest %q", d)
				}
			}
			if n := c.BatchLimit(); n <= 0 || n > MaxBatchBytes {
				t.Fatalf("batch limit %d", n)
			}
			if v := peerShadowVersion(c); v < 1 || v > ShadowVersion {
				t.Fatalf("shadow version %d", v)
			}
			c.CanPipeline()
		}
		if got[0] != nil && got[1] != nil && !sameKeywords(got[0], got[1]) {
			t.Fatalf("keywords read plainly %q, replayed %q", got[0], got[1])
		}
	})
}

func sameKeywords(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
