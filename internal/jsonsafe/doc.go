// Package jsonsafe escapes, in JSON umbra writes, the characters a
// terminal or a browser would act on: one rule for the admin API, the
// web console, the daemon's JSON log and the tracking log, the same
// characters the CLI escapes. The escapes are JSON's, so a document
// stays valid and decodes to the same values.
//
// Invariants:
//   - Escape's output is valid JSON whenever its input is, and decodes to
//     the same values: it writes JSON's own \uXXXX escapes (a surrogate
//     pair above U+FFFF), and only for runes outside Raw, which outside a
//     string JSON never has.
//   - Raw is the one rule of what a view may show as itself: a printable
//     rune, tab, newline and carriage return. The CLI's text output
//     escapes the same characters (cmd/umbra termsafe.go), so no view
//     shows raw what another escapes.
//   - TextBytes writes a byte that is not UTF-8 as the text \xNN and
//     doubles a run of backslashes that would read as one, so two
//     different values never show alike; FromShown undoes exactly the
//     CLI's escapes, so a value copied from a table matches the value.
//   - An error's text is escaped once: a TextError (Textf) says by its
//     type that its values were written by TextBytes already, and a
//     writer of errors writes it as it is, any other error's text by
//     TextBytes. TextBytes is not idempotent, and no escaping that is
//     (one that leaves a \xNN as it finds it) can tell the byte 0xe9
//     from the text \xe9 in a raw error.
//   - A segment exactly as Go's %q writes it is escaped once already:
//     QuotedAsIs keeps it as it is and writes only the text around it.
//   - It imports no umbra package: any package may use it.
package jsonsafe
