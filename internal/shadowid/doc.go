// Package shadowid is the one form of the ids of shadow redundancy: a
// shadow copy's message id and a transport database id, as the shadow
// verbs carry them (XSHADOW=, XSHADOWCOPY=, DB=, discard ids), as a
// reply presents them (XSHADOW's database id) and as the operator names
// them (umbra shadow forget-database). Every place that admits such an
// id checks it here, so an id recorded from one is one the others take.
// It imports no umbra package: any package may use it.
//
// Invariants:
//   - An id is 1 to MaxLen bytes of [A-Za-z0-9._-] (Syntax): nothing that
//     could end a verb's parameter, a log field or a bucket key early.
//   - Valid is the only test of that form: the verbs' parsers, the store's
//     records and the CLI all call it, so no id is accepted by one and
//     refused by another.
package shadowid
