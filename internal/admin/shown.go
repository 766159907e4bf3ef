package admin

import (
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

// Shown is a file name as an answer names it: by the one rule for bytes
// from outside (jsonsafe.TextBytes) with a control character written
// \xNN (queue.QuoteShown, without its quotes), so that a name never
// forges a line.
func Shown(name string) string {
	q := queue.QuoteShown(name)
	return q[1 : len(q)-1]
}

// ShownText is text, which names the files names as given, in the text
// form: written by the one rule (jsonsafe.TextBytes), which keeps the
// text's own tabs and newlines, and each name (and each directory above
// it, which a refusal of a missing directory names) that holds a control
// character by Shown; a value the text quotes as Go's %q writes it (the
// byte 0xe9 as \xe9) is kept as it is (jsonsafe.QuotedAsIs): escaped
// once already, TextBytes would double its backslash. It is the rule of
// every refusal the CLI makes naming a file, the admin client's among
// them.
func ShownText(text string, names ...string) string {
	var parts []string
	for _, n := range names {
		for ; n != "" && n != "." && n != "/" && strings.ContainsFunc(n, unicode.IsControl); n = filepath.Dir(n) {
			parts = append(parts, n)
		}
	}
	plain := func(s string) string { return jsonsafe.QuotedAsIs(s, jsonsafe.TextBytes) }
	if len(parts) == 0 {
		return plain(text)
	}
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) }) // the longest first
	var b strings.Builder
	for text != "" {
		at, name := -1, ""
		for _, n := range parts {
			if i := strings.Index(text, n); i >= 0 && (at < 0 || i < at) {
				at, name = i, n
			}
		}
		if at < 0 {
			break
		}
		b.WriteString(plain(text[:at]))
		b.WriteString(Shown(name))
		text = text[at+len(name):]
	}
	b.WriteString(plain(text))
	return b.String()
}

// shownError is err with its text written by ShownText for names.
type shownError struct {
	err   error
	names []string
}

func (e shownError) Error() string { return ShownText(e.err.Error(), e.names...) }
func (e shownError) Unwrap() error { return e.err }

// shown is the client's refusal err in the text form (a
// jsonsafe.TextError, as the CLI writes it as it is): the admin socket,
// the transport database, the configuration files the client was given
// and names (a holder's command line, a socket found elsewhere) on one
// line. nil stays nil. Every refusal the client makes itself naming one
// of them is made so where it is made.
func (c *Client) shown(err error, names ...string) error {
	if err == nil {
		return nil
	}
	all := append([]string{c.path, c.database, c.configFile, c.defaultConfig}, names...)
	return jsonsafe.Textf("%w", shownError{err, all})
}
