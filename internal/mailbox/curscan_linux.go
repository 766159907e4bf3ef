package mailbox

import (
	"os"
	"syscall"
)

// inCur reports whether the cur/ directory dir holds the delivery name,
// with or without its info (name, or name:INFO). It reads the
// directory's raw entries (getdents64) into one buffer and compares
// their names in place: no value is made per file, so a check of a
// large mailbox costs its reads, not memory per message (the check runs
// per recipient). It stops at the first match.
func inCur(dir, name string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := syscall.ReadDirent(int(f.Fd()), buf)
		if err != nil || n <= 0 {
			return false
		}
		// struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2),
		// d_type (1), d_name (NUL-terminated, to d_reclen).
		for off := 0; off+19 < n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			if reclen < 19 || off+reclen > n {
				return false // not a record this reads: found nothing
			}
			e := buf[off+19 : off+reclen]
			for i, c := range e {
				if c == 0 {
					e = e[:i]
					break
				}
			}
			if len(e) >= len(name) && string(e[:len(name)]) == name && (len(e) == len(name) || e[len(name)] == ':') {
				return true
			}
			off += reclen
		}
	}
}
