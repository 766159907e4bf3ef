// Package filelimit reads a file an operator names (a certificate, a
// key, a password, credentials or recipients list) up to a limit of its
// kind, so that a setting pointed by mistake at a log file or a disk
// image costs a check, a start or a reload at most that limit in memory.
//
// Invariants: a read never returns more than limit bytes; a larger file
// fails with an error that wraps ErrTooLarge and names the limit and the
// kind ("larger than the 16 MiB limit for a certificate file"), after
// reading at most limit+1 bytes.
//
// Line-based files (credentials, recipients, hosts_file) share the rules
// of lines.go: a UTF-8 byte-order mark at the file's start is skipped
// (TrimBOM), and an entry whose name begins with an invisible character
// (InvisibleStart) is refused at its line by the reader, never kept as
// an entry that silently matches nothing. A password file (a send
// connector's auth.password_file, ldap.bind_password_file) is read by
// the same rule (Secret, secret.go): its first line, without the BOM
// and the line end (LF or CRLF).
//
// A file read again when it changes (the console's credentials, the
// hosts file) is compared by its Version: the identity of the file its
// path resolves to (device, inode), size, mtime and ctime, and the
// digest of its content where the stat vouches for nothing (read within
// RacyWindow of its change): size and mtime alone miss a copy that kept
// them. The package imports no other umbra
// package, so every loader may use it.
package filelimit
