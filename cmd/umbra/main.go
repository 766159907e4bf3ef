// Command umbra is the umbra mail transfer agent. main builds the command
// tree; serve.go is the composition root.
package main

import (
	"errors"
	"fmt"
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

func main() {
	root := newRootCmd()
	stdout, stderr := newTermWriter(os.Stdout), newTermWriter(os.Stderr) // termsafe.go
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	stdout.Flush()
	if err != nil {
		// The message by the CLI's rule for text (textSafe): a value
		// it names reads apart from the text of its escape.
		fmt.Fprintln(stderr, "umbra:", textSafe(err.Error()))
		stderr.Flush()
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		// A file the command could not read or write (message export
		// -o into a missing directory) is a failure, not a usage error.
		if errors.As(err, new(*fs.PathError)) || errors.As(err, new(*os.LinkError)) || errors.As(err, new(*os.SyscallError)) {
			os.Exit(exitFailure)
		}
		os.Exit(exitUsage)
	}
	os.Exit(exitOK)
}
