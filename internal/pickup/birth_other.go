//go:build !linux

package pickup

// birthTime: no statx here; fileKey falls back to the change time.
func birthTime(path string) (sec int64, nsec uint32, ok bool) {
	return 0, 0, false
}
