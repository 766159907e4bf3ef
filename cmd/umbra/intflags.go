package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// pflag reads a whole-number flag with base 0: --limit 010 would be
// octal 8, 0x10 sixteen, 0_10 eight. An operator writes decimal, and a
// number read otherwise than written acts on a number of messages not
// meant; so every whole-number flag of the CLI is one of these kinds,
// which read decimal only and refuse a leading zero or a base prefix
// with a usage error (exit 64) naming both readings, as the
// configuration refuses such a number (TestEveryIntegerFlagIsDecimalOnly
// guards flags added later).

// decimalInt is an int flag read in decimal only.
type decimalInt struct{ p *int }

// decimalInt64 is an int64 flag read in decimal only.
type decimalInt64 struct{ p *int64 }

func intFlag(fs *pflag.FlagSet, p *int, name string, value int, usage string) {
	*p = value
	fs.Var(&decimalInt{p}, name, usage)
}

func int64Flag(fs *pflag.FlagSet, p *int64, name string, value int64, usage string) {
	*p = value
	fs.Var(&decimalInt64{p}, name, usage)
}

func (d *decimalInt) String() string { return strconv.Itoa(*d.p) }
func (d *decimalInt) Type() string   { return "int" }
func (d *decimalInt) Set(s string) error {
	v, err := parseDecimal(s, strconv.IntSize)
	if err == nil {
		*d.p = int(v)
	}
	return err
}

func (d *decimalInt64) String() string { return strconv.FormatInt(*d.p, 10) }
func (d *decimalInt64) Type() string   { return "int" }
func (d *decimalInt64) Set(s string) error {
	v, err := parseDecimal(s, 64)
	if err == nil {
		*d.p = v
	}
	return err
}

// parseDecimal reads s as a decimal whole number (an optional sign, then
// digits, the first not 0 unless it is the only one). A leading zero or
// a base prefix is refused with what s is in decimal and, where it
// differs, what a tool reading base prefixes would make of it.
func parseDecimal(s string, bits int) (int64, error) {
	digits := strings.TrimLeft(s, "+-")
	if len(digits) > 1 && digits[0] == '0' {
		if other, err := strconv.ParseInt(s, 0, bits); err == nil {
			dec, derr := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, bits)
			switch {
			case derr != nil: // 0x10, 0b1, 0o10: no decimal reading
				return 0, fmt.Errorf("write a decimal number: %s has a base prefix (it would read as %d)", s, other)
			case dec != other:
				return 0, fmt.Errorf("write a decimal number without a leading zero: %s reads as %d in decimal and %d in octal", s, dec, other)
			default:
				return 0, fmt.Errorf("write a decimal number without a leading zero: %s is %d", s, dec)
			}
		}
		if dec, err := strconv.ParseInt(s, 10, bits); err == nil {
			// 08, 02048: no octal reading, but the zero is refused all
			// the same (no flag reads it one way here and another there).
			return 0, fmt.Errorf("write a decimal number without a leading zero: %s is %d (not octal: a leading zero is refused; write %d)", s, dec, dec)
		}
		return 0, fmt.Errorf("write a decimal number without a leading zero or base prefix: %s", s)
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%s is out of range", s)
		}
		return 0, fmt.Errorf("write a decimal whole number: %s", s)
	}
	return v, nil
}
