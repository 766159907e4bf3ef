package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/leftover"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/signing"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func newDKIMCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dkim", Short: "DKIM signing keys for outbound mail"}
	var algorithm, out string
	var bits int
	keygen := &cobra.Command{
		Use:   "keygen DOMAIN SELECTOR",
		Short: "Write a new signing key and print its DNS TXT record",
		Long: "Writes DIR/DOMAIN.SELECTOR.key (PKCS#8 PEM, mode 0600; run as root, owned by the user and group\n" +
			"of the configuration's data directory, whom the daemon runs as; an existing file is never\n" +
			"overwritten) and prints the TXT record to publish at SELECTOR._domainkey.DOMAIN,\n" +
			"split into strings of at most 255 bytes, and the dkim.keys entry for the configuration.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			domain, err := mailaddr.Name(args[0])
			selector := strings.ToLower(args[1])
			if err != nil || !config.IsDomain(domain) || !strings.Contains(domain, ".") {
				return &exitError{code: exitUsage, err: fmt.Errorf("%q is not a domain name", args[0])}
			}
			if !config.IsDomain(selector) {
				return &exitError{code: exitUsage, err: fmt.Errorf("selector %q is not a DNS name", args[1])}
			}
			// --out names a directory: one that is missing (or a file)
			// is said so, naming --out as given, not as the key file's
			// open failing inside it (rt27c).
			if fi, err := os.Stat(out); err != nil || !fi.IsDir() {
				why := "not a directory"
				switch {
				case errors.Is(err, os.ErrNotExist):
					why = "the directory does not exist"
				case err != nil:
					why = err.Error()
				}
				return &exitError{code: exitFailure, err: shownErr(fmt.Errorf("dkim keygen --out %s: %s", out, why), out)}
			}
			// --bits is an RSA key size: given alone it asks for an RSA
			// key of that size; given with --algorithm ed25519 it cannot
			// mean what it says (an ed25519 key has no size) and is
			// refused rather than ignored.
			if cmd.Flags().Changed("bits") {
				if !cmd.Flags().Changed("algorithm") {
					algorithm = "rsa"
				} else if algorithm == "ed25519" {
					return &exitError{code: exitUsage, err: errors.New("--bits is an RSA key size: an ed25519 key has none; leave --bits out, or use --algorithm rsa")}
				}
			}
			k, pemBytes, err := signing.GenerateKey(algorithm, bits)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			value, err := signing.RecordValue(k)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			path := filepath.Join(out, domain+"."+selector+".key")
			place, err := checkWritePlaceHeld(cmd, "dkim keygen --out", path)
			if err != nil {
				return err
			}
			if err := writeKeyFile(path, pemBytes, daemonOwner(cmd), place); err != nil {
				if errors.As(err, new(*exitError)) {
					return err // place's refusal, worded
				}
				// An I/O failure (no such directory, no room, no
				// permission) is not a usage error: exit 1, not 64.
				return &exitError{code: exitFailure, err: shownErr(err)} // the file as given, once
			}
			abs, _ := filepath.Abs(path)
			abs = shown(abs) // a byte that is not UTF-8 as \xNN, as every answer names a file
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "; %s key written to %s\n", signing.Algorithm(k), abs)
			fmt.Fprintf(w, "; publish this record, then add the key to the configuration:\n")
			fmt.Fprintf(w, ";   dkim:\n;     keys:\n;       - {domain: %s, selector: %s, key_file: %s}\n", domain, selector, abs)
			fmt.Fprintln(w, signing.ZoneLine(signing.RecordName(domain, selector), value))
			return nil
		},
	}
	keygen.Flags().StringVar(&algorithm, "algorithm", "ed25519", "ed25519 or rsa (rsa when --bits is given)")
	intFlag(keygen.Flags(), &bits, "bits", 2048, "RSA key size (2048 to 4096); given without --algorithm it makes an RSA key, with --algorithm ed25519 it is refused")
	keygen.Flags().StringVar(&out, "out", ".", "directory the key file is written to")
	cmd.AddCommand(keygen)
	return cmd
}

// writeKeyFile writes a new key file, mode 0600 whatever the umask,
// given to owner (nil: the runner's) before its key is written, synced;
// an existing file is never overwritten, and a partly written one is
// removed. path's directory is opened once and held: place (nil: none)
// judges it by device and inode (checkWritePlaceHeld), and the file is
// made and, on failure, removed through that descriptor, never through
// a path a directory swapped for a link meanwhile leads elsewhere
// (rr-dbfix30 F3's sibling).
func writeKeyFile(path string, pemBytes []byte, owner *fileOwner, place func(dir *os.File) error) error {
	dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	if place != nil {
		if err := place(dir); err != nil {
			return err
		}
	}
	fd, err := unix.Openat(int(dir.Fd()), filepath.Base(path), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%s exists: a key in use is never overwritten; choose a new selector for a new key", path) // named by the caller's shownErr
		}
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	err = f.Chmod(0o600)
	if err == nil && owner != nil {
		if err = f.Chown(owner.uid, owner.gid); err != nil {
			err = fmt.Errorf("giving the key to the user the daemon runs as (uid %d, gid %d, the data directory's owner): %w", owner.uid, owner.gid, err)
		}
	}
	if err == nil {
		_, err = f.Write(pemBytes)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(int(dir.Fd()), filepath.Base(path), 0)
	}
	return err
}

// fileOwner is a user and group a file is given.
type fileOwner struct{ uid, gid int }

// daemonOwner is the user and group the daemon runs as, for a file a
// command run as root writes for the daemon to read (a DKIM key): the
// owner of the data directory the daemon answering runs with, else of
// the configuration the command finds (as checkWritePlace finds it), as db compact and db restore give their
// files (internal/queue ownership.go). nil — the file stays the
// runner's — for a command not run as root, a configuration that does
// not load, a data directory that does not exist or is root's.
func daemonOwner(cmd *cobra.Command) *fileOwner {
	if os.Geteuid() != 0 {
		return nil
	}
	// The data directory of a daemon answering is the one it runs with
	// (the server section applies at a restart: the file may name
	// another since), else the file's.
	cfg := loadedConfig(cmd)
	if cfg == nil {
		find := discoverConfig
		if sock, _ := cmd.Flags().GetString("socket"); configNamed(cmd) == "" && (sock != "" || envSocket(cmd) != "") {
			find = daemonConfig
		}
		var err error
		if cfg, err = find(cmd); err != nil {
			return nil
		}
	}
	fi, err := os.Stat(cfg.Server.DataDir)
	if err != nil || !fi.IsDir() {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return &fileOwner{uid: int(st.Uid), gid: int(st.Gid)}
}

// checkWritePlace refuses (exit 1) a file a command is to create inside
// a place umbra writes or that umbra reads or owns (config.WriteConflict),
// as the configuration the management commands find (discoverConfig; the
// daemon's own, daemonConfig, when it is named by its socket) places them; a file that exists is left to the command, which never
// replaces one. The places of the configuration a daemon answering runs
// (loadedConfig) are refused too. A configuration named (--config, $UMBRA_CONFIG) that does
// not load refuses the command; an installed one that does not load is
// a warning, and the file is not judged against it.
func checkWritePlace(cmd *cobra.Command, what, path string) error {
	_, err := checkWritePlaceHeld(cmd, what, path)
	return err
}

// checkWritePlaceHeld is checkWritePlace that also returns place, the
// same judgement made on path's directory as the command holds it open
// (queue.CreateTempIn, queue.SaveBackupIn): by its device and inode
// against the places' (config.WriteConflictHeld), not by path, which may
// lead elsewhere by the time the daemon has sent what is written
// (rr-dbfix30 F3). place is nil when there is nothing to judge.
func checkWritePlaceHeld(cmd *cobra.Command, what, path string) (place func(dir *os.File) error, err error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, nil // an existing file: every such command refuses it itself ("exists")
	}
	// A name a command's sweep of partial copies removes, in any
	// directory (leftover.Swept): the next backup or export there would
	// delete the file written (rt32c F1).
	if why := leftover.Swept(filepath.Base(path)); why != "" {
		return nil, &exitError{code: exitFailure, err: shownErr(fmt.Errorf("%s: %s: %s", what, path, why))}
	}
	// A name a start removes from its data directory as a leftover
	// (leftover.Started), in any directory: another umbra's data
	// directory lies inside or beside this one's, and its next start
	// would delete the file written (rt33c F1).
	if why := leftover.Started(filepath.Base(path)); why != "" {
		return nil, &exitError{code: exitFailure, err: shownErr(fmt.Errorf("%s: %s: %s; name another file", what, path, why))}
	}
	// A daemon named by its socket (--socket, $UMBRA_SOCKET) and no
	// configuration named: its places are those of the file it runs.
	find := discoverConfig
	if sock, _ := cmd.Flags().GetString("socket"); configNamed(cmd) == "" && (sock != "" || envSocket(cmd) != "") {
		find = daemonConfig
	}
	var cfg, lc *config.Config
	defer func() {
		if err != nil || (cfg == nil && lc == nil) {
			return
		}
		place = func(dir *os.File) error {
			depth := func(d string) int { return queue.HeldDepth(dir, d) }
			if err := cfg.WriteConflictHeld(path, depth); err != nil {
				return &exitError{code: exitFailure, err: shownErr(fmt.Errorf("%s: %w", what, err), path)}
			}
			if err := lc.WriteConflictHeld(path, depth); err != nil {
				return &exitError{code: exitFailure, err: shownErr(fmt.Errorf("%s: %w (of the configuration the running daemon loaded)", what, err), path)}
			}
			return nil
		}
	}()
	cfg, err = find(cmd)
	if err != nil {
		cfg = nil
		if configNamed(cmd) != "" || errors.Is(err, admin.ErrNotAdminSocket) {
			return nil, err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s %s: not checked against umbra's places: %s\n", what, shown(path), errorText(err))
		return nil, nil
	}
	if err := cfg.WriteConflict(path); err != nil {
		return nil, &exitError{code: exitFailure, err: shownErr(fmt.Errorf("%s: %w", what, err), path)}
	}
	// The daemon that answers writes where the configuration it loaded
	// says (a file edited since without a reload, a section that applies
	// at a restart): its places are umbra's too.
	lc = loadedConfig(cmd)
	if lc != nil {
		if err := lc.WriteConflict(path); err != nil {
			return nil, &exitError{code: exitFailure, err: shownErr(fmt.Errorf("%s: %w (of the configuration the running daemon loaded)", what, err), path)}
		}
	}
	return nil, nil
}
