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
	var empty, needed, forms []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "socket" {
			return
		}
		if v := f.Annotations[needsValueKey]; len(v) == 1 && f.Value.String() == "" {
			needed, forms = append(needed, "--"+f.Name), append(forms, "--"+f.Name+" "+v[0])
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
	if len(needed) > 0 {
		// A flag the command cannot go without: leaving it out is
		// refused too (rt25c F6), so the advice is its value alone.
		return &exitError{code: exitUsage, err: fmt.Errorf("%s given with no value: the command needs it; give %s",
			strings.Join(needed, ", "), strings.Join(forms, ", "))}
	}
	if len(empty) > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s given with no value: give one, or leave the flag out", strings.Join(empty, ", "))}
	}
	return nil
}

// needsValueKey marks a flag its command cannot run without
// (needsValue): given empty, it is not to be left out.
const needsValueKey = "umbra_needs_value"

// needsValue marks cmd's flag name as one the command needs, with the
// form of its value (HOST[:PORT]), for refuseEmptyValues's advice.
func needsValue(cmd *cobra.Command, name, form string) {
	if err := cmd.Flags().SetAnnotation(name, needsValueKey, []string{form}); err != nil {
		panic(err) // a flag name this file does not define
	}
}
