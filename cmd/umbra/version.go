package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print umbra's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			if wantJSON(cmd) {
				printJSON(cmd.OutOrStdout(), map[string]string{"version": version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH})
				return
			}
			fmt.Fprintf(cmd.OutOrStdout(), "umbra %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

func init() { version = buildVersion(version, debug.ReadBuildInfo) }

// buildVersion is the version the binary reports: the one the Makefile
// sets with -ldflags, else (a plain `go build`, as the tests do) the
// commit the Go toolchain stamped (vcs.revision, 12 digits, "-dirty" for
// uncommitted changes), else the module version, else "dev".
func buildVersion(set string, info func() (*debug.BuildInfo, bool)) string {
	if set != "" && set != "dev" {
		return set
	}
	bi, ok := info()
	if !ok {
		return "dev"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified == "true" {
			rev += "-dirty"
		}
		return rev
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return "dev"
}
