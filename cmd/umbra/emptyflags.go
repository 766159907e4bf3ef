package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// refuseEmptyValues refuses a flag given with no value (exit 64): a
// filter of "" would match everything, a file or name of "" names
// nothing, and either way the command would not do what was asked
// (rt51 F8: `message list --state ""` listed every message where
// `--state nosuch` is refused). --config and --socket are left to their
// own rules (an empty one means the default chain).
func refuseEmptyValues(cmd *cobra.Command, _ []string) error {
	var empty []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "socket" {
			return
		}
		switch v := f.Value.(type) {
		case pflag.SliceValue:
			s := v.GetSlice()
			if len(s) == 0 || strings.Contains("\x00"+strings.Join(s, "\x00")+"\x00", "\x00\x00") {
				empty = append(empty, "--"+f.Name)
			}
		default:
			if f.Value.Type() == "string" && f.Value.String() == "" {
				empty = append(empty, "--"+f.Name)
			}
		}
	})
	if len(empty) > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s given with no value: give one, or leave the flag out", strings.Join(empty, ", "))}
	}
	return nil
}
