package main

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
	"time"

	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

// OPS-3: errorText escapes each value of an error exactly once, by the
// error's type: a raw error's bytes by the one rule (the byte 0xe9
// \xe9, the text \xe9 \\xe9), an error in the text form as it is, each
// part of a wrapped error by its own kind, a file system error's path
// on one line, and a segment Go's %q wrote as it is.
func TestOPS3ErrorTextEscapesEachValueOnce(t *testing.T) {
	_, durErr := time.ParseDuration("5\xe9")
	for _, c := range []struct {
		err  error
		want string
	}{
		{errors.New("open a\xe9.yaml"), `open a\xe9.yaml`},
		{errors.New(`open a\xe9.yaml`), `open a\\xe9.yaml`},
		{&fs.PathError{Op: "open", Path: "a\xe9.yaml", Err: syscall.ENOENT}, `open a\xe9.yaml: no such file or directory`},
		{&fs.PathError{Op: "open", Path: `a\xe9.yaml`, Err: syscall.ENOENT}, `open a\\xe9.yaml: no such file or directory`},
		{&fs.PathError{Op: "open", Path: "a\nb", Err: syscall.ENOENT}, `open a\x0ab: no such file or directory`},
		{jsonsafe.Textf("no queue %s", queue.QuoteShown("a\xffb")), `no queue "a\xffb"`},
		{fmt.Errorf("--domain: %w", jsonsafe.Textf("domain %s", queue.QuoteShown("a\xffb"))), `--domain: domain "a\xffb"`},
		{fmt.Errorf("x\xff: %w", jsonsafe.Textf("%s", queue.QuoteShown("a\xffb"))), `x\xff: "a\xffb"`},
		{errors.Join(errors.New("a\xff"), jsonsafe.Textf(`b\xff`)), "a\\xff\nb\\xff"},
		{&exitError{code: 1, err: fmt.Errorf("wrap: %w", &fs.PathError{Op: "stat", Path: `q\x41`, Err: syscall.ENOENT})}, `wrap: stat q\\x41: no such file or directory`},
		{durErr, `time: unknown unit "\xe9" in duration "5\xe9"`},
	} {
		if got := errorText(c.err); got != c.want {
			t.Errorf("errorText(%q) = %q, want %q", c.err.Error(), got, c.want)
		}
	}
}
