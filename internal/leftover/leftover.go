package leftover

import (
	"path/filepath"
	"strings"
)

// The spool directory's name beside the database, and the suffix of
// the directory a restore stages spool files in.
const (
	SpoolDir      = "spool"
	StagingSuffix = ".restore"
	// PeerWaitDir is the marker directory of an older release
	// (queue: peerwait.go), removed by every start with all in it.
	PeerWaitDir = "peerwait"
	// CmdLockSuffix names the db commands' side lock beside the
	// database (queue: cmdlock.go).
	CmdLockSuffix = ".cmdlock"
	// DBName is the transport database's name in every data directory.
	DBName = "queue.db"
	// PeerWaitSlots is the peer wait slot file (queue: peerwait.go),
	// made afresh by every start: whatever has its name is removed.
	PeerWaitSlots = "peerwait.slots"
	// RunFile is the daemon's run file (admin: runfile.go), written as
	// RunFile.tmp — whatever has that name removed first — and renamed
	// over RunFile when the daemon is ready.
	RunFile = "admin.run"
	// AdminSocket is the admin socket's default name in the data
	// directory (config: defaultAdminSocket).
	AdminSocket = "admin.sock"
)

// Made is every name a start of umbra makes afresh in its data
// directory, removing whatever has it, with why; not on Beside's list,
// which is of what a killed command left (logged as such).
var Made = map[string]string{
	PeerWaitSlots:    "a start of umbra makes its peer wait slot file afresh at this name in its data directory, removing whatever has it",
	RunFile:          "a ready umbra writes its run file at this name in its data directory, replacing whatever has it",
	RunFile + ".tmp": "a ready umbra writes its run file under this name in its data directory first, removing whatever has it",
	// The admin socket's default name (server.admin_socket): a start
	// removes what is there before it listens (admin: listenSocket), a
	// regular file too, which takes no connection (rr34 opsrt33).
	AdminSocket: "a start of umbra makes its admin socket at this name in its data directory (the default server.admin_socket), removing whatever file has it",
}

// Kind tells which step leaves a name and when a start removes it.
type Kind int

const (
	Snapshot    Kind = iota // a backup's snapshot (file) or its spool links (directory), removed by every start
	Compact                 // db compact's copy, removed by every start
	Restore                 // db restore's copy and its compaction, removed by every start
	Staging                 // db restore's staging spool: installed by the start that finishes its restore, else removed
	AsideSuffix             // the suffix a restore chose: kept while the restored database is not started, else removed
	PeerWait                // an older release's peer-wait markers (directory), removed by every start with all in it
	CmdLock                 // the db commands' side lock: removed by every start when no command holds it
)

// Name is one name beside the database that a start removes.
type Name struct {
	Base   string // the name in the database's directory, or its start (Prefix)
	Prefix bool   // every name that begins with Base and has more
	Dir    bool   // a directory (else a file; a Snapshot prefix is either)
	Kind   Kind
	Why    string // why it is removed, for the log and for a refusal
}

const (
	whySnapshot = "a backup copies the database to a snapshot of this name beside it, and the next start removes it as what a killed backup left"
	whyCompact  = "db compact and db restore write it beside the database, and the next start removes it as what a killed one left"
	whyRestore  = whyCompact
)

// Beside is every name beside the database file db (its path; only its
// last name counts) that a start removes or installs: what a killed
// backup, compaction or restore left.
func Beside(db string) []Name {
	base := filepath.Base(db)
	return []Name{
		{Base: "." + base + ".snapshot-", Prefix: true, Kind: Snapshot, Why: whySnapshot},
		{Base: base + ".compact", Kind: Compact, Why: whyCompact},
		{Base: base + "-compact", Kind: Compact, Why: whyCompact},
		{Base: base + ".restore", Kind: Restore, Why: whyRestore},
		{Base: base + ".restore-compact", Kind: Restore, Why: whyRestore},
		{Base: base + ".restore-suffix", Kind: AsideSuffix, Why: whyRestore},
		{Base: SpoolDir + StagingSuffix, Dir: true, Kind: Staging, Why: "db restore stages spool files in this directory, and the next start removes it (or installs it as the spool, finishing that restore)"},
		{Base: base + CmdLockSuffix, Kind: CmdLock, Why: "the db commands (restore, compact) lock the database with this file beside it, and the next start removes it when no command holds it (what a killed one left)"},
		{Base: PeerWaitDir, Dir: true, Kind: PeerWait, Why: "an older release kept peer-wait markers in this directory, and every start reads them and removes it with all in it (a file at this name too)"},
	}
}

// Matches reports whether base (a last name) is n.
func (n Name) Matches(base string) bool {
	if n.Prefix {
		return len(base) > len(n.Base) && strings.HasPrefix(base, n.Base)
	}
	return base == n.Base
}

// Of is the name of Beside(db) that base (a last name in db's
// directory) is, if any.
func Of(db, base string) (Name, bool) {
	for _, n := range Beside(db) {
		if n.Matches(base) {
			return n, true
		}
	}
	return Name{}, false
}

// Started says why a file named base (a last name) may not be a file a
// command writes, wherever it is: a start of umbra whose data directory
// it is in removes it as a leftover (Beside of that directory's
// DBName). A data directory is wherever a configuration puts it, one
// umbra's inside or beside another's (an edge's beside its hub's), so
// the name is refused in every directory, not only beside the database
// of the configuration the command reads (rt33c F1: db backup of one
// umbra into another's data directory was removed by that one's next
// start). "" when no start removes it.
func Started(base string) string {
	if why, ok := Made[base]; ok {
		return "it is a name umbra owns in its data directory (" + why + "), and any directory may be one umbra's data directory"
	}
	n, ok := Of(DBName, base)
	if !ok {
		return ""
	}
	return "it is a name a start of umbra removes from its data directory (" + n.Why + "), and any directory may be one umbra's data directory"
}

// The partial copies the commands write beside their file and sweep
// when their writer is gone (queue.RemoveStaleTemps): "." FILE
// ".partial-" for db backup FILE, ExportPrefix … ExportSuffix for
// message export -o, each followed by the writer's pid ("L" and digits,
// or bare digits of an older release) and "-".
const (
	PartialInfix = ".partial-"
	ExportPrefix = ".umbra-export-"
	ExportSuffix = ".eml"
)

// Partial is the start of the name of a backup's partial copy of path.
func Partial(path string) string { return "." + filepath.Base(path) + PartialInfix }

// Swept says why a file named base (a last name, in any directory) would
// be removed by a command's sweep of partial copies: a finished file of
// that name holds no writer's lock, and db backup or message export to
// that directory removes it. "" when none would.
func Swept(base string) string {
	if !strings.HasPrefix(base, ".") {
		return ""
	}
	if strings.HasPrefix(base, ExportPrefix) && strings.HasSuffix(base, ExportSuffix) && pidThenDash(strings.TrimPrefix(base, ExportPrefix)) {
		return "it is the name of a partial copy of message export -o, and the next export into its directory removes it"
	}
	// Every occurrence: the sweep of backups to FILE matches "." FILE
	// PartialInfix, and FILE may hold the infix itself (a.partial-x), so
	// the one that counts may be any of them.
	for i := 1; i < len(base); i++ {
		j := strings.Index(base[i:], PartialInfix)
		if j < 0 {
			break
		}
		i += j
		if i > 1 && pidThenDash(base[i+len(PartialInfix):]) {
			return "it is the name of a partial copy of db backup, and the next backup to " + base[1:i] + " removes it"
		}
	}
	return ""
}

// pidThenDash reports whether s begins with a writer's pid ("L" and
// digits, or digits) and "-".
func pidThenDash(s string) bool {
	s = strings.TrimPrefix(s, "L")
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n > 0 && n < len(s) && s[n] == '-'
}
