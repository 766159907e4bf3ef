package main

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

// escapingWriter writes JSON log records with every character a terminal
// would act on escaped (jsonsafe.Escape: C1 controls, bidi and
// zero-width characters from senders, recipients and replies), as the
// text log's quoting and the admin API do. slog writes one record per
// Write, and the escapes are JSON's: each line stays valid JSON with the
// same values.
type escapingWriter struct{ w io.Writer }

func (e escapingWriter) Write(p []byte) (int, error) {
	if _, err := e.w.Write(jsonsafe.Escape(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// jsonLogAttr is the JSON log's ReplaceAttr: durations as seconds, and
// text as the tracking log and the admin answers write it.
func jsonLogAttr(groups []string, a slog.Attr) slog.Attr {
	return textBytesAttr(durationSeconds(groups, a))
}

// textBytesAttr writes a text value, or an error's text, with the one
// rule for bytes from outside (jsonsafe.TextBytes): a byte that is not
// UTF-8 as \xNN, a backslash run before what reads as such an escape
// doubled. encoding/json would write every such byte as U+FFFD, and a
// raw 0xE9 and the text \xe9 a sender wrote would read alike.
func textBytesAttr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); jsonsafe.TextBytes(s) != s {
			return slog.String(a.Key, jsonsafe.TextBytes(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok && err != nil {
			return slog.String(a.Key, errorText(err))
		}
	}
	return a
}

// durationSeconds makes the JSON logs print a duration as seconds (a
// number, as Prometheus and most log pipelines expect) instead of
// slog's integer nanoseconds: "waited":1.5, not "waited":1500000000.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	if a.Value.Kind() == slog.KindAny {
		if d, ok := a.Value.Any().(time.Duration); ok {
			return slog.Float64(a.Key, d.Seconds())
		}
	}
	return a
}

// errorText is err as the log, the status's reload error and every
// other answer write it, each value it names escaped exactly once: a
// configuration's refusal by its text rule (configText: a value the
// loader quoted as it is); an error whose type says its text is in the
// text form already (inTextForm: a name written by shown or
// queue.QuoteShown, a daemon's refusal) as it is; the text of any other
// error — raw, an os error naming a file as given — by
// jsonsafe.TextBytes, so that the byte 0xe9 reads \xe9 and the text
// \xe9 a name holds \\xe9 (textOf). Standard error shows the same text
// (main.go; textSafe over it for the characters a terminal acts on).
// What it gives is in the text form of every answer, and is not escaped
// again.
func errorText(err error) string {
	if ee, ok := err.(*exitError); ok {
		err = ee.err // a command's refusal: its error as it came (main.go)
	}
	var shown *configShownError
	if errors.As(err, &shown) { // in the configuration's text form already (configText)
		return shown.text
	}
	if isConfigError(err) { // a refused reload: its values quoted by the loader already
		return configText(err.Error(), configErrorFiles(err)...)
	}
	return textOf(err)
}

// textOf is err's text with each part escaped once: an error in the
// text form (inTextForm) as it is; a file system error with its path
// as a name given is shown (shown: on one line, a control character as
// \xNN); an error that wraps others (%w, errors.Join) whose texts it
// holds in order, its own text around them by plainText and each of
// theirs by textOf; any other error's text by plainText.
func textOf(err error) string { return textOfBy(err, plainText) }

// textOfBy is textOf with plain the rule for the text of an error that
// is not in the text form (shownError's: admin.ShownText with the names
// it was given), so that a part in the text form already is kept as it
// is there too.
func textOfBy(err error, plain func(string) string) string {
	if inTextForm(err) {
		return err.Error()
	}
	switch e := err.(type) {
	case *fs.PathError:
		return plain(e.Op) + " " + shown(e.Path) + ": " + textOfBy(e.Err, plain)
	case *os.LinkError:
		return plain(e.Op) + " " + shown(e.Old) + " " + shown(e.New) + ": " + textOfBy(e.Err, plain)
	}
	s := err.Error()
	var inner []error
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		inner = u.Unwrap()
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			inner = []error{e}
		}
	}
	var b strings.Builder
	rest := s
	for _, e := range inner {
		if e == nil {
			continue
		}
		t := e.Error()
		i := strings.Index(rest, t)
		if t == "" || i < 0 {
			return plain(s) // not its text: escaped as a whole
		}
		b.WriteString(plain(rest[:i]))
		b.WriteString(textOfBy(e, plain))
		rest = rest[i+len(t):]
	}
	b.WriteString(plain(rest))
	return b.String()
}

// plainText is the text of an error that is not in the text form, by
// the one rule (jsonsafe.TextBytes); a segment exactly as Go's %q writes
// it (time.ParseDuration's "…", strconv's) is kept as it is — Go's
// quoting tells the byte 0xe9 (\xe9) from the text (\\xe9) already
// (quotedAsIs, the rule of the configuration's refusals).
func plainText(s string) string { return quotedAsIs(s) }

// inTextForm reports whether err's text is in the text form already, by
// its type: written by the rule (jsonsafe.TextError, shownError,
// queue.UnknownNameError), or a daemon's refusal (admin.APIError, whose
// text the daemon wrote by the answers' rule); a command's refusal
// (exitError) as its error.
func inTextForm(err error) bool {
	switch e := err.(type) {
	case *jsonsafe.TextError, shownError, *queue.UnknownNameError, *admin.APIError, *configShownError:
		return true
	case *exitError:
		return inTextForm(e.err)
	}
	return false
}

// configShownError is a configuration's refusal written by its text
// rule already (configText: serve's refusal at its start): printed and
// answered as it is — textSafe would double the backslash of a value's
// \n quoted as Go quotes it, and configText is not applied twice.
type configShownError struct{ text string }

func (e *configShownError) Error() string { return e.text }

// configShown is text, in the configuration's text form, as an error.
func configShown(text string) error { return &configShownError{text} }

// isConfigError reports whether err is a configuration's refusal (the
// loader's config.Errors, checkConfig's *checkFailure), whose lines show
// a value's control character as the loader's \xNN (configText).
func isConfigError(err error) bool {
	var cf *checkFailure
	var ce *config.Error
	return errors.As(err, &cf) || errors.As(err, &ce)
}

// configErrorFiles is the files err's lines name at their start, for
// configText.
func configErrorFiles(err error) []string {
	var files []string
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			if e.File != "" && !slices.Contains(files, e.File) {
				files = append(files, e.File)
			}
		}
	}
	var ce *config.Error
	if errors.As(err, &ce) && ce.File != "" && !slices.Contains(files, ce.File) {
		files = append(files, ce.File)
	}
	var cf *checkFailure
	if errors.As(err, &cf) && cf.file != "" && !slices.Contains(files, cf.file) {
		files = append(files, cf.file)
	}
	return files
}
