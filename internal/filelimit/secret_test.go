package filelimit

import "testing"

// SMTP-4: a password file is read by one rule, the line-based files'
// (lines.go): a UTF-8 byte-order mark at its start and the line end
// (LF or CRLF) are no part of the secret; only the first line counts.
func TestSMTP4SecretOfAPasswordFile(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"s3cret", "s3cret"},
		{"s3cret\n", "s3cret"},
		{"s3cret\r\n", "s3cret"},
		{"\ufeffs3cret\r\n", "s3cret"},
		{"\ufeffs3cret", "s3cret"},
		{"s3cret\nsecond line\n", "s3cret"},
		{" spaced pw \n", " spaced pw "}, // spaces are the password's
		{"\ufeff\r\n", ""},
		{"", ""},
		{"x\ufeff\n", "x\ufeff"}, // a mark elsewhere is the password's
	} {
		if got := Secret([]byte(c.file)); got != c.want {
			t.Errorf("Secret(%q) = %q, want %q", c.file, got, c.want)
		}
	}
}
