package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"umbra/internal/admin"
)

// exitInterrupted is the exit of a command run in batches that the
// operator stopped with Ctrl-C (128 + SIGINT, as a shell reports it).
const exitInterrupted = 130

// stopBatchesOnInterrupt makes a command run in batches (a bulk message
// action, queue resume, retry, redirect, flush) stop cleanly at Ctrl-C
// (rt17e-F4): at the first SIGINT it asks for no further batch, waits
// for the batch in flight (the daemon ends it within a quarter of the
// client's wait, UMBRA_ADMIN_TIMEOUT), and the command ends with what
// every answered batch did — `before that: …; run the command again for
// the rest` — exit 130; a second SIGINT ends the process at once.
// The returned function restores the default at the command's end.
func stopBatchesOnInterrupt(cmd *cobra.Command, c *admin.Client, action string) func() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT)
	stop, done := make(chan struct{}), make(chan struct{})
	c.StopBatchesOn(stop)
	(*guard)(nil).goRun("batch_interrupt", func() { // a panic: said on stderr, the command goes on without the stop (helperpanic.go)
		select {
		case <-sig:
		case <-done:
			return
		}
		// The stop first, then the line: once the line is out, no
		// further batch is asked for (a test waits for it).
		close(stop)
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: interrupted: waiting for the batch in flight, then stopping (Ctrl-C again to quit at once, without the summary)\n", action)
		select {
		case <-sig:
			os.Exit(exitInterrupted)
		case <-done:
		}
	})
	return func() {
		signal.Stop(sig)
		close(done)
	}
}
