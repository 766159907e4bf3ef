// Package topology loads the organisation's topology file into a routing
// snapshot: config.LoadTopology checks the file (file:line errors, the
// graph included), Input converts it into routing's input, and
// routing.NewTopology indexes it. It is the one loader the daemon
// (start and SIGHUP), `config check` and `route explain` share, so all
// three accept and refuse the same files.
//
// Invariant (FuzzLoad): a file config accepts is one routing accepts,
// and routing every recipient of it from every server terminates with a
// route, an NDR or a documented wait — no panic, no hang. A refusal by
// routing of a file config accepted is a bug in config's validation,
// reported as such.
package topology
