package filelimit

import "strings"

// Secret is the secret a password file holds (a send connector's
// auth.password_file, ldap.bind_password_file): its first line, without
// a UTF-8 byte-order mark at the file's start and without its line end
// (LF or CRLF). The same rule as the line-based files of lines.go: an
// editor's "UTF-8 with BOM" or Windows line ends are no part of the
// password. "" for a file with nothing on its first line, which the
// readers refuse as empty.
func Secret(data []byte) string {
	line, _, _ := strings.Cut(string(TrimBOM(data)), "\n")
	return strings.TrimSuffix(line, "\r")
}
