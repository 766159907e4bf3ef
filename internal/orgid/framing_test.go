package orgid

import "testing"

// SMTP-5 (rt21b M1's sibling): the header firewall's section ends where
// the receive side ends it — at a line that is neither a field nor a
// continuation the body starts, and the body comes back byte for byte
// (umbra's empty line goes before such a line, so no reader takes what
// follows for header fields); fields above it are removed as ever.
func TestStripEndsAtLineThatIsNoField(t *testing.T) {
	for _, c := range []struct{ msg, want, found string }{
		{"garbage\r\nX-Umbra-Org-Id: 0123\r\n", "garbage\r\nX-Umbra-Org-Id: 0123\r\n", ""},
		{" X-Lead: x\r\nX-Umbra-Org-Id: 0123\r\n", " X-Lead: x\r\nX-Umbra-Org-Id: 0123\r\n", ""},
		{"X-Umbra-Org-Id: 1\r\nSubject: s\r\nFrom ceo@example.org Thu Dec  3 00:00:00 2026\r\nX-Umbra-Org-Id: 2\r\n",
			"Subject: s\r\nFrom ceo@example.org Thu Dec  3 00:00:00 2026\r\nX-Umbra-Org-Id: 2\r\n", "1"},
		{"X-Umbra-Org-Id : 1\r\n\tfolded\r\nSubject: s\r\n", "Subject: s\r\n", "1"},
	} {
		out, found := Strip([]byte(c.msg))
		if string(out) != c.want || found != c.found {
			t.Errorf("Strip(%q) = %q, %q; want %q, %q", c.msg, out, found, c.want, c.found)
		}
	}
}
