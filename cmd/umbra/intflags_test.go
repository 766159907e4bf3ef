package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every whole-number flag of the CLI reads decimal only: a leading zero
// (010, which pflag would read as octal 8) or a base prefix (0x10, 0o10,
// 0b1, 0_10) is refused with a usage error (exit 64) naming the flag and
// both readings where they differ, before anything is asked of a daemon
// or done to a file; the plain number still reads as written.
func TestIntegerFlagsReadDecimalOnly(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"message", "list", "--limit"}, "--limit"},
		{[]string{"queue", "quarantine", "list", "--limit"}, "--limit"},
		{[]string{"dumpster", "list", "--database", "d", "--limit"}, "--limit"},
		{[]string{"track", "--limit"}, "--limit"},
		{[]string{"route", "explain", "a@example.org", "--size"}, "--size"},
		{[]string{"dkim", "keygen", "example.org", "s1", "--algorithm", "rsa", "--out", dir, "--bits"}, "--bits"},
		{[]string{"--config", filepath.Join(dir, "none.yaml"), "db", "compact", "--schema"}, "--schema"},
	} {
		for _, v := range []string{"010", "0x10", "0o10", "0b1", "0_10", "-010", "00"} {
			args := append([]string{"--socket", sock}, append(append([]string{}, c.args...), v)...)
			cmd := exec.Command(umbraBin, args...)
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			err := cmd.Run()
			ee, _ := err.(*exec.ExitError)
			if ee == nil || ee.ExitCode() != exitUsage || !strings.Contains(errOut.String(), c.flag) || !strings.Contains(errOut.String(), "decimal") {
				t.Errorf("%v: %v %q, want exit 64 naming %s and the decimal reading", args, err, errOut.String(), c.flag)
			}
			if v == "010" && !strings.Contains(errOut.String(), "8") {
				t.Errorf("%v: %q, want both readings (10 and 8)", args, errOut.String())
			}
		}
	}
	// The decimal number is read as written: the daemon is then asked
	// (and is not running: exit 69), not a usage error.
	cmd := exec.Command(umbraBin, "--socket", sock, "message", "list", "--limit", "10")
	if err := cmd.Run(); err == nil || err.(*exec.ExitError).ExitCode() == exitUsage {
		t.Errorf("--limit 10: %v, want it read (the daemon is asked)", err)
	}
}

// A guard for flags added later: every flag of the command tree whose
// value is a whole number is one of the decimal-only kinds.
func TestEveryIntegerFlagIsDecimalOnly(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			switch f.Value.(type) {
			case *decimalInt, *decimalInt64:
				return
			}
			switch f.Value.Type() {
			case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "intSlice", "int32Slice", "int64Slice", "uintSlice", "count":
				t.Errorf("%s --%s is a %s flag pflag reads with base 0 (010 as 8): use decimalInt", c.CommandPath(), f.Name, f.Value.Type())
			}
		}
		c.LocalFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
}

// A leading zero before a digit octal has not (08, 02048) is refused with
// its decimal reading like the others (rt47 note).
func TestLeadingZeroNotOctalSaysDecimal(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"08", "08 is 8"}, {"02048", "02048 is 2048"}, {"-09", "-09 is -9"},
	} {
		_, err := parseDecimal(c.in, 64)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "a leading zero is refused") {
			t.Errorf("parseDecimal(%q): %v, want %q and why", c.in, err, c.want)
		}
	}
}
