// Command umbra is the umbra mail transfer agent: one binary that runs
// the daemon (umbra serve) and the operator's commands (config check,
// queue, message, track, route explain, shadow, dumpster, db, dkim,
// tls, version). main.go builds the command tree; serve.go is the
// composition root, the one place every part is made and wired.
//
// Invariants:
//   - Only this package (and the simulation, internal/sim) wires the
//     parts together; the import rules of the architecture are checked
//     by TestImportGraph (imports_test.go) and grow with every new rule.
//   - serve, config check and a reload (SIGHUP) read a configuration
//     with the same parser (internal/config) and refuse it by the same
//     checks (checkConfig: topology, recipients, files, addresses): a
//     file config check passes is one serve starts with, and each error
//     names its file and line. A reload that fails keeps the running
//     configuration.
//   - The management commands change nothing themselves in a running
//     daemon's state: they ask the daemon over its admin socket
//     (client.go), which does the work under its own rules. When no
//     daemon answers they say which of the cases it is (not running,
//     starting, running at another socket, not permitted) with the exit
//     codes of main.go and client.go, never a guess. Given a
//     configuration file (-c, $UMBRA_CONFIG) and no socket, a command
//     asks only a daemon that runs that file: adminClient checks the
//     file the daemon says it runs (checkDaemonRunsNamed, by route
//     explain's comparison runsFile) before anything is asked of it.
//   - The db commands that rewrite the transport database (restore,
//     compact) run only while no daemon has it open, take the side lock
//     queue.db.cmdlock before they read anything, and create every file
//     they write in the data directory afresh, following no link
//     (internal/queue datadirfiles.go). They refuse a queue.db that is a
//     symlink, naming its target (internal/queue linkeddb.go), and say
//     so when the data directory was replaced after their rename: the
//     directory they worked in, where it is now, exit 1
//     (dirReplacedAfter). db restore walks the data
//     directory's path name by name and follows no symlink on it that
//     a user other than root and the caller may have planted, before it
//     makes or gives away anything (restoreowner.go, internal/queue
//     safepath.go).
//   - A SIGHUP reload refuses what config check and the start refuse,
//     except in the parts only a restart applies (the web console, the
//     DNS resolver): those are warned of (checkReload). What a reload
//     builds is built from the running server section (which only a
//     restart changes), never the file's — so is what the loader
//     derived from it (an authserv-id not written, a relative Maildir:
//     config.KeepServer), and a topology that no longer holds the
//     running name (or role) refuses the reload saying so
//     (runningNameInTopology); and a reload whose accepted
//     domains would leave the running postmaster outside the
//     organisation is refused whole (postmasterLeft).
//   - The reload's comparisons with the running state are one function
//     (againstRunning, then storeLostAtReload), which the reload and
//     config check's dry run (reloadRefusals, POST /v1/config/check)
//     both run: config check with the daemon answering refuses what
//     the reload would, in its words; the dry run applies nothing and
//     binds no listener. With no daemon answering config check says
//     the file was checked alone.
//   - The places the daemon writes are made at the start and a start that
//     cannot make them is refused before the transport database is
//     opened: the data directory, the Maildir tree's root, the pickup
//     directory, the admin socket's and the tracking log's directory —
//     each of the last four
//     (before the data directory when outside it) also asked whether this
//     process may create files there, access(2), an existing one too, and
//     refused at its setting's line (dirsready.go; a reload that moves
//     one is checked alike). config check meets the same for these and
//     the data directory without making anything (startDirsRefused: a
//     probe directory made and removed in a missing one's nearest
//     parent), so that the unit's ExecStartPre refuses what the start
//     would; serve runs the same check with checkConfig's before it
//     makes anything (withStartDirs), so both name every such directory
//     at its line in one run, and an existing data directory of another
//     user as such (its owner and chown), not as a file of another user
//     in it (rt31c F6).
//   - A configuration's refusal shows a value as the loader quoted it,
//     its control character \xNN once, in config check, serve and the
//     reload failure's log line alike (configText); the admin API's
//     answers keep their one rule (admin.TextBytes).
//   - Text output escapes what a terminal would act on (termsafe.go, the
//     same characters internal/jsonsafe escapes in JSON), and a filter
//     takes a value as shown as well as typed.
//   - Every value an error names is escaped exactly once, alike on
//     standard error, in --json and in the log's err (errorText): an
//     error whose type says its text is in the text form already
//     (jsonsafe.TextError, shownError, queue.UnknownNameError, a
//     daemon's admin.APIError, a configuration's refusal) is written as
//     it is; any other by jsonsafe.TextBytes (a segment exactly as Go's
//     %q writes it kept), part by part through %w and errors.Join, a
//     file system error's path as a name given. So
//     an error that names a value in the text form is made by
//     jsonsafe.Textf (or wraps one by %w), never by fmt.Errorf.
//   - A path or name an operator sees (a file given, the topology, the
//     admin socket, the data directory, a holder's command line) is on
//     one line: shown (a control character as \xNN) in the CLI's own
//     lines, config.ShownPath (quoted as Go does) inside a
//     configuration's refusal. The rule is applied where the value
//     enters the text, never guessed at by errorText: a refusal made
//     by fmt.Errorf that names one is made a shownError naming it
//     (shownErr(err, names...), admin.ShownText), as are the admin
//     client's own refusals (admin.Client: the socket, the database).
//     A shownError keeps a part in the text form as it is (textOfBy),
//     so it may wrap the admin client's refusal or another shownError;
//     a value shown by hand (shown) goes into jsonsafe.Textf, never
//     into fmt.Errorf, whose text would be escaped again.
//   - Exit codes are stable for scripts: 0 done, 1 failure, 2 invalid
//     configuration, 64 usage, and those of client.go for the daemon's
//     answers.
package main
