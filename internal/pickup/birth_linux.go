package pickup

import "golang.org/x/sys/unix"

// birthTime returns the creation time of the file at path (statx
// STATX_BTIME: ext4, xfs, btrfs, tmpfs), not following a last symbolic
// link, and whether the file system gives one (NFS does not). A
// variable: tests stand in a file system that gives none.
var birthTime = statxBirthTime

func statxBirthTime(path string) (sec int64, nsec uint32, ok bool) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &stx); err != nil {
		return 0, 0, false
	}
	if stx.Mask&unix.STATX_BTIME == 0 {
		return 0, 0, false
	}
	return stx.Btime.Sec, stx.Btime.Nsec, true
}
