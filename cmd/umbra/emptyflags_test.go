package main

import (
	"os/exec"
	"strings"
	"testing"
)

// A filter given with no value is refused (exit 64) rather than
// ignored (rt51 F8): `message list --state ""` listed every message,
// where `--state nosuch` is refused. No daemon is needed to refuse it.
func TestEmptyFlagValuesRefused(t *testing.T) {
	for _, args := range [][]string{
		{"message", "list", "--state", ""},
		{"message", "list", "--queue="},
		{"message", "list", "--from", ""},
		{"track", "--event", ""},
		{"track", "--sender="},
		{"dumpster", "list", "--database", ""},
		{"queue", "list", "--filter", ""},
		{"queue", "list", "--filter", "status="},
		{"queue", "list", "--filter=type="},
	} {
		cmd := exec.Command(umbraBin, append([]string{"--socket", "/nonexistent/admin.sock"}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != exitUsage || !strings.Contains(string(out), "no value") {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, out)
		}
	}
}

// A required flag given with no value is not told to be left out, which
// is refused next (rt25c F6, OPS-3): `queue redirect Q --to ""` said
// "leave the flag out", and leaving it out says "redirect needs --to".
// The advice given must be one the command takes.
func TestEmptyRequiredFlagAdviceWorks(t *testing.T) {
	cmd := exec.Command(umbraBin, "--socket", "/nonexistent/admin.sock", "queue", "redirect", "smarthost:sink", "--to", "")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != exitUsage || !strings.Contains(string(out), "no value") {
		t.Fatalf("--to '': exit %d, want %d\n%s", code, exitUsage, out)
	}
	if strings.Contains(string(out), "leave the flag out") || !strings.Contains(string(out), "--to HOST[:PORT]") {
		t.Errorf("--to \"\": advice the command refuses next, or none: %s", out)
	}
}
