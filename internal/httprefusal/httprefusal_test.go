package httprefusal

import "testing"

// OPS-42 item 5: net/http's own answers (its fixed header block) are
// told from a handler's (which carries Date and Content-Length).
func TestOPS42OwnTellsNetHTTPsAnswerFromAHandlers(t *testing.T) {
	for _, c := range []struct {
		in   string
		code int
		why  string
		ok   bool
	}{
		{"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large", 431, "Request Header Fields Too Large", true},
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request", 400, "Bad Request", true},
		{"HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header", 400, "Bad Request: missing required Host header", true},
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: Sun, 06 Dec 2026 10:00:00 GMT\r\nContent-Length: 12\r\n\r\nbad request\n", 0, "", false},
		{"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n", 0, "", false},
		{"hello", 0, "", false},
	} {
		code, why, ok := Own([]byte(c.in))
		if code != c.code || why != c.why || ok != c.ok {
			t.Errorf("Own(%.40q) = %d %q %v, want %d %q %v", c.in, code, why, ok, c.code, c.why, c.ok)
		}
	}
}

// OPS-42 item 5 (rr42a): net/http's answer is one write, whole: its
// fixed header block followed by anything but its own body (the status
// line's code and text again, or the 501's fixed words) is a handler's.
func TestOPS42OwnIsTheWholeWrite(t *testing.T) {
	const h = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"HTTP/1.1 501 Not Implemented" + h + "Unsupported transfer encoding", true},
		{"HTTP/1.1 400 Bad Request" + h + "400 Bad Request and more of a message", false},
		{"HTTP/1.1 400 Bad Request" + h + "400 Bad Reques", false},
		{"HTTP/1.1 400 Bad Request" + h + "431 Request Header Fields Too Large", false},
		{"HTTP/1.1 400 Bad Request" + h + "Unsupported transfer encoding", false},
		{"HTTP/1.1 400 Bad Request" + h, false},
	} {
		if _, _, ok := Own([]byte(c.in)); ok != c.ok {
			t.Errorf("Own(%q) = %v, want %v", c.in, ok, c.ok)
		}
	}
}
