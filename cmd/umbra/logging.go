package main

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"time"

	"umbra/internal/config"
	"umbra/internal/jsonsafe"
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

// isConfigError reports whether err is a configuration's refusal (the
// loader's config.Errors, checkConfig's *checkFailure), whose lines show
// a value's control character as the loader's \xNN (configText).
// errorText is err as the log, the status's reload error and every
// other answer write it: a configuration's refusal by its text rule
// (configText: a value the loader quoted as it is, escaped once), any
// other error by jsonsafe.TextBytesOnce — a raw byte that is not UTF-8
// written \xNN, a \xNN already there left as it is, as standard error
// shows it (textSafe): many errors name a value in the text form already
// (queue.QuoteShown, a daemon's refusal, admin.APIError.Msg), and
// TextBytes would double its backslash ("a\\xffb" in --json where
// standard error says "a\xffb"). What it gives is in the text form of
// every answer already, and is not escaped again.
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
	return jsonsafe.TextBytesOnce(err.Error())
}

// configShownError is a configuration's refusal written by its text
// rule already (configText: serve's refusal at its start): printed and
// answered as it is — textSafe would double the backslash of a value's
// \n quoted as Go quotes it, and configText is not applied twice.
type configShownError struct{ text string }

func (e *configShownError) Error() string { return e.text }

// configShown is text, in the configuration's text form, as an error.
func configShown(text string) error { return &configShownError{text} }

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
