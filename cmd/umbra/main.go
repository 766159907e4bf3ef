package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Exit codes scripts can rely on.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitConfig  = 2 // the configuration is invalid
	exitUsage   = 64
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Unwrap is the command's error: its kind (errors.Is, errors.As) is seen
// through the exit code it carries.
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := newRootCmd()
	out := &stdoutCounter{w: os.Stdout}
	stdout, stderr := newTermWriter(out), newTermWriter(os.Stderr) // termsafe.go
	root.SetOut(stdout)
	root.SetErr(stderr)
	ran, err := root.ExecuteC()
	stdout.Flush()
	if err != nil {
		// The message as every answer writes it (errorText: each value
		// escaped once, by the error's type), then, but for a
		// configuration's refusal, by the CLI's rule for text
		// (textSafe): a value it names reads apart from the text of its
		// escape. A configuration's refusal is in its own text form
		// (configText, as config check prints it): a value it quotes as
		// Go does is written as it is, its \n not doubled to \\n.
		inner := err
		if ee, ok := err.(*exitError); ok {
			inner = ee.err
		}
		if isConfigError(inner) || errors.As(inner, new(*configShownError)) {
			fmt.Fprintln(stderr, "umbra:", errorText(err))
		} else {
			fmt.Fprintln(stderr, "umbra:", textSafe(errorText(err)))
		}
		stderr.Flush()
		code := exitCode(err)
		// With --json a refusal is JSON on standard output too (rt45
		// F7), unless the command printed its own verdict there
		// (config check, db verify): a script reads one object.
		if ran != nil && wantJSON(ran) && out.n == 0 {
			printJSON(stdout, struct {
				Error string `json:"error"`
				Exit  int    `json:"exit"`
			}{errorText(err), code}) // by the answers' text rule, as the log and the status write it (logging.go)
			stdout.Flush()
		}
		os.Exit(code)
	}
	os.Exit(exitOK)
}

// exitCode is the exit status of a command's error.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// A file the command could not read or write (message export
	// -o into a missing directory) is a failure, not a usage error.
	if errors.As(err, new(*fs.PathError)) || errors.As(err, new(*os.LinkError)) || errors.As(err, new(*os.SyscallError)) {
		return exitFailure
	}
	return exitUsage
}

// stdoutCounter counts the bytes written through it.
type stdoutCounter struct {
	w io.Writer
	n int64
}

func (c *stdoutCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
