package smtp

import "testing"

// SMTP-5 (rt21b M1's sibling): the Message-ID a record or a discard's
// tracking event keeps is read from the header section as the receive
// side ends it (package header's walk), never from a body line below a
// line that is no field.
func TestHeaderValueReadsTheHeaderSectionOnly(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		{"Message-ID: <a@x>\r\n\r\nMessage-ID: <b@x>\r\n", "<a@x>"},
		{"Message-ID:\r\n <a@x>\r\nSubject: s\r\n", "<a@x>"},
		{"Message-ID : <a@x>\r\n", "<a@x>"},
		{"garbage\r\nMessage-ID: <body@x>\r\n", ""},
		{"Subject: s\r\nFrom ceo@example.org Thu Dec  3 00:00:00 2026\r\nMessage-ID: <body@x>\r\n", ""},
		{" X-Lead: x\r\nMessage-ID: <body@x>\r\n", ""},
		{"Bad Name: x\r\nMessage-ID: <body@x>\r\n", ""},
	} {
		if got := headerValue([]byte(c.msg), "Message-ID"); got != c.want {
			t.Errorf("%q: %q, want %q", c.msg, got, c.want)
		}
	}
}
