package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"umbra/internal/leftover"
)

// RunFile is the file in a ready daemon's data directory that says which
// process it is and where its admin socket is ("pid N", "admin_socket
// PATH" lines), written when it is ready and when a reload moved the
// socket, removed at its stop. A command that finds no answer at the
// socket its configuration file names now, while the process that holds
// the transport database is that daemon, knows from it that the daemon
// runs, ready, at another socket — the file edited since the daemon's
// start or last reload — not that it is starting (rt26c F2). A run file
// a crash left behind names a pid that holds no database, and is not
// believed.
const RunFile = leftover.RunFile

// ErrSocketElsewhere means the daemon runs and is ready, but not at the
// admin socket the command looked at: the configuration file was edited
// since its start or last reload (server.admin_socket, or data_dir). It
// answers at its own socket (--socket), and SIGHUP moves its socket to
// the file's (a data_dir applies at a restart). Waiting does not help.
var ErrSocketElsewhere = errors.New("umbra runs, but not at this admin socket")

// SocketElsewhereError is ErrSocketElsewhere with the socket the daemon
// answers on (Socket; "" when not known), for a caller that says it
// shorter (route explain, track).
type SocketElsewhereError struct {
	Socket string
	// Other: the command used the default configuration and the daemon
	// runs started with another (OtherServeErr), not with the file the
	// command read, edited since.
	Other bool
	// Named: no configuration file gave the command's socket (--socket,
	// UMBRA_SOCKET, a default's): none is blamed, no SIGHUP advised.
	Named bool
	msg   string
}

func (e *SocketElsewhereError) Error() string        { return e.msg }
func (e *SocketElsewhereError) Is(target error) bool { return target == ErrSocketElsewhere }

// WriteRunFile writes the run file of this process into dataDir, naming
// its admin socket: a new file renamed over the old, so that a reader
// never sees half of it.
func WriteRunFile(dataDir, socket string) error {
	p := filepath.Join(dataDir, RunFile)
	tmp := p + ".tmp"
	// A new file, never one a link left there names: a serve run as root
	// must not write through a name the data dir's owner planted.
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "pid %d\nadmin_socket %s\n", os.Getpid(), socket)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, p)
}

// RemoveRunFile removes this process's run file from dataDir (the stop);
// one another process wrote is left.
func RemoveRunFile(dataDir string) {
	if pid, _ := readRunFile(dataDir); pid == os.Getpid() {
		os.Remove(filepath.Join(dataDir, RunFile))
	}
}

// readRunFile is the pid and admin socket a run file in dataDir names (0,
// "" when there is none or it does not read).
func readRunFile(dataDir string) (pid int, socket string) {
	f, err := os.Open(filepath.Join(dataDir, RunFile))
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 8<<10)) // a few lines
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "pid":
			pid, _ = strconv.Atoi(v)
		case "admin_socket":
			socket = v
		}
	}
	return pid, socket
}

// answers: a process accepts connections on the Unix socket at path.
func answers(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// samePath: a and b name one file (after cleaning, made absolute).
func samePath(a, b string) bool {
	a, _ = filepath.Abs(a)
	b, _ = filepath.Abs(b)
	return filepath.Clean(a) == filepath.Clean(b)
}

// elsewhereErr is ErrSocketElsewhere when pid, which holds the transport
// database, wrote the run file beside it naming another admin socket
// than the client's, and answers there; nil otherwise. The configuration
// file is blamed, and SIGHUP advised, only when the client's socket came
// from one (SetConfigFile).
func (c *Client) elsewhereErr(pid int, cmdline string) error {
	if c.database == "" || pid == 0 {
		return nil
	}
	runPid, sock := readRunFile(filepath.Dir(c.database))
	if runPid != pid || sock == "" || samePath(sock, c.path) || !answers(sock) {
		return nil
	}
	if c.configFile == "" {
		// No configuration file gave the path: a socket named on purpose
		// (--socket, UMBRA_SOCKET) or a default's. The daemon's own
		// file moved its socket at a start or reload (rr-opsrt38 F2):
		// no file to blame, and a SIGHUP would change nothing.
		from, reach := "the socket named (--socket or UMBRA_SOCKET)", "; or name no socket, and the configuration file's server.admin_socket gives it"
		if c.defaultConfig != "" {
			from, reach = "the socket of "+c.defaultConfig, ""
		}
		return c.shown(&SocketElsewhereError{Socket: sock, Named: true, msg: fmt.Sprintf("%v %s: pid %d (%s) holds its transport database %s and answers on its admin socket %s, "+
			"not on %s, %s — its configuration moved the socket at its start or last reload: reach it with --socket %s%s",
			ErrSocketElsewhere, c.path, pid, cmdline, c.database, sock, c.path, from, sock, reach)}, sock, cmdline)
	}
	return c.shown(&SocketElsewhereError{Socket: sock, msg: fmt.Sprintf("%v %s: pid %d (%s) holds its transport database %s and answers on its admin socket %s — the configuration "+
		"file names %s since its start or last reload, which it has not reloaded. SIGHUP moves the socket there: kill -HUP %d (under "+
		"systemd, systemctl reload of its unit); or reach it now with --socket %s", ErrSocketElsewhere, c.path, pid, cmdline, c.database,
		sock, c.path, pid, sock)}, sock, cmdline)
}

// SetConfigFile names the configuration file the command read the
// admin socket from: when nothing answers there and no process holds the
// database that file names, a `serve` started with that file still runs
// with the data directory it named at its start (startedWithErr).
func (c *Client) SetConfigFile(path string) { c.configFile = path }

// startedWithErr is ErrSocketElsewhere when an umbra serve started with
// the client's configuration file runs while the database the file names
// now is held by none: the file's data_dir (or admin_socket with it) was
// edited since the daemon started. Its admin socket is found from its
// run file, else from the sockets it listens on where this user may see
// them; nil when no such process runs.
func (c *Client) startedWithErr() error {
	if c.configFile == "" {
		return nil
	}
	file, _ := filepath.Abs(c.configFile)
	for _, p := range listServeProcs() {
		if p.config == "" || !samePath(p.config, file) || !trustedRunner(p.pid, file) {
			continue
		}
		sock := c.socketOf(p.pid)
		reach := "reach it with --socket PATH, the admin socket the file named at its start (by default admin.sock in the data_dir it named then)"
		if sock != "" {
			reach = "reach it now with --socket " + sock
		}
		return c.shown(&SocketElsewhereError{Socket: sock, msg: fmt.Sprintf("%v %s: pid %d (%s), started with the configuration file %s, does not use the data_dir that file "+
			"names now (its transport database there, %s, is held by none): the file was edited since its start, and a change of "+
			"server.data_dir applies at a restart — restore the file's data_dir, or restart umbra to move to the new one; %s",
			ErrSocketElsewhere, c.path, p.pid, p.cmdline, c.configFile, c.database, reach)}, sock, p.cmdline)
	}
	return nil
}

// serveProc is a running `umbra serve` process: its pid, the
// configuration file it was started with (made absolute against its
// working directory; "" without -c, or when its directory is not this
// user's to see) and its command line.
type serveProc struct {
	pid     int
	config  string
	cmdline string
	named   bool // started with -c/--config
}

// procDir is where the processes are listed (a test's copy in its
// place: serveProcs, serveSubcommand).
var procDir = "/proc"

// listServeProcs is serveProcs (a test's list in its place).
var listServeProcs = serveProcs

// serveProcs lists the processes running umbra's serve subcommand
// (serveSubcommand), every one /proc shows: no cap, since the one a
// command looks for (the daemon of its configuration file, of its data
// directory) may be any of them, and the answers that name several say
// how many they leave out themselves (OtherServeErr). The scan is
// bounded by the processes the host runs, one read of a cmdline each.
func serveProcs() []serveProc {
	procs, err := os.ReadDir(procDir)
	if err != nil {
		return nil
	}
	var out []serveProc
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, _ := os.ReadFile(procDir + "/" + p.Name() + "/cmdline")
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		cfgArg, serve, named := "", false, false
		for i, a := range args {
			switch {
			case a == "serve":
				serve = true
			case (a == "-c" || a == "--config") && i+1 < len(args):
				cfgArg, named = args[i+1], true
			case strings.HasPrefix(a, "--config="), strings.HasPrefix(a, "-c="):
				_, cfgArg, _ = strings.Cut(a, "=")
				named = true
			}
		}
		if !serve || !serveSubcommand(pid) {
			continue
		}
		if cfgArg != "" && !filepath.IsAbs(cfgArg) {
			cwd, err := os.Readlink(procDir + "/" + p.Name() + "/cwd")
			if err != nil {
				cfgArg = "" // its directory is not this user's to see: not known
			} else {
				cfgArg = filepath.Join(cwd, cfgArg)
			}
		}
		out = append(out, serveProc{pid: pid, config: cfgArg, cmdline: strings.Join(args, " "), named: named})
	}
	return out
}

// SetDefaultConfig says the command chose no configuration and no
// socket (no -c, --socket, UMBRA_CONFIG, UMBRA_SOCKET): what answered
// for it (desc: "the default configuration" and which) is only the
// default, and a daemon started with another file is not one it could
// find (OtherServeErr).
func (c *Client) SetDefaultConfig(desc string) { c.defaultConfig = desc }

// OtherServeErr is ErrSocketElsewhere when the command used the default
// configuration, no daemon answers at its socket, and umbra serve
// processes this user may believe (trustedRunner: root's, its own, or
// those of its configuration file's owner) run, started otherwise — with
// -c FILE, at another socket (rt27c F4: the CLI without -c said "umbra
// is not running" while a daemon started with -c hub.yaml ran). It
// names each (at most 5, those whose file lies nearest the command's
// working directory first, then how many more): pid, -c, socket where
// this user may see it.
// The socket commands return it when no daemon answers; a command that
// reads the default configuration's data directory itself (db compact,
// db restore) asks it where that directory holds no database (rt27e
// F5), never printing a bare "no such file".
func (c *Client) OtherServeErr() error {
	if c.defaultConfig == "" {
		return nil
	}
	var runs []string
	var first serveProc
	socket := ""
	more := 0 // those past the five named (rt30c F8)
	// Those whose file lies nearest the directory the command runs in
	// first: on a host of many daemons the operator's own is named
	// among the five (rt30c F8).
	procs := listServeProcs()
	if cwd, err := os.Getwd(); err == nil {
		sort.SliceStable(procs, func(i, j int) bool { return nearness(procs[i].config, cwd) > nearness(procs[j].config, cwd) })
	}
	for _, p := range procs {
		if !trustedRunner(p.pid, p.config) {
			continue
		}
		sock := c.socketOf(p.pid)
		if sock != "" && samePath(sock, c.path) {
			continue // the socket tried: not another daemon (answered for by the checks before)
		}
		if len(runs) == 5 {
			more++
			continue
		}
		if len(runs) == 0 {
			first, socket = p, sock
		}
		how := "started without -c"
		switch {
		case p.config != "":
			how = "-c " + p.config
		case p.named:
			how = "-c, its file not known to this user"
		}
		where := "socket not known to this user"
		if sock != "" {
			where = "socket " + sock
		}
		runs = append(runs, fmt.Sprintf("pid %d, %s, %s", p.pid, how, where))
	}
	if len(runs) == 0 {
		return nil
	}
	if more > 0 {
		runs[len(runs)-1] += fmt.Sprintf("; and %d more (pgrep -af 'umbra.* serve' lists them all)", more)
	}
	give := "give -c FILE, the file it was started with, or --socket PATH"
	if len(runs) == 1 {
		switch {
		case first.config != "" && socket != "":
			give = "give -c " + first.config + " (or --socket " + socket + ")"
		case first.config != "":
			give = "give -c " + first.config
		case socket != "":
			give = "give --socket " + socket
		}
	} else {
		socket = ""
	}
	return c.shown(&SocketElsewhereError{Socket: socket, Other: true, msg: fmt.Sprintf("%v %s, which %s names: umbra runs (%s); this command used the default configuration: %s",
		ErrSocketElsewhere, c.path, c.defaultConfig, strings.Join(runs, "; "), give)}, append(runs, socket, first.config)...)
}

// trustedRunner: process pid runs as root, as this user, or as the owner
// of the configuration file file — not any user's process whose command
// line merely names the file (any local process can).
func trustedRunner(pid int, file string) bool {
	fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if st.Uid == 0 || int(st.Uid) == os.Getuid() {
		return true
	}
	if cf, err := os.Stat(file); err == nil {
		if cst, ok := cf.Sys().(*syscall.Stat_t); ok && cst.Uid == st.Uid {
			return true
		}
	}
	return false
}

// socketOf is the admin socket of daemon pid as far as this user may
// see it: a Unix socket it listens on whose path is a socket answering
// there; "" when not known. Its descriptors are read once and the
// table of listening sockets once (unixListenerTable), whole.
func (c *Client) socketOf(pid int) string {
	held := socketInodesOf(pid)
	if len(held) == 0 {
		return ""
	}
	for _, l := range unixListenerTable() {
		if held[l.ino] && strings.HasPrefix(l.path, "/") && answers(l.path) {
			return l.path
		}
	}
	return ""
}

// socketInodesOf are the inodes of the sockets pid has open (none where
// this user may not read its descriptors).
func socketInodesOf(pid int) map[uint64]bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[uint64]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(dir + "/" + fd.Name())
		if err != nil {
			continue
		}
		if n, ok := strings.CutPrefix(l, "socket:["); ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(n, "]"), 10, 64); err == nil {
				out[ino] = true
			}
		}
	}
	return out
}

// nearness is how many leading path elements the directory of the
// configuration file config shares with dir (0 for none known).
func nearness(config, dir string) int {
	if config == "" {
		return 0
	}
	a := strings.Split(filepath.Clean(filepath.Dir(config)), string(filepath.Separator))
	b := strings.Split(filepath.Clean(dir), string(filepath.Separator))
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
