// Package pickup submits messages that are dropped as files into a pickup
// directory (SPEC SR-12, scenario B), for applications that write mail
// instead of speaking SMTP.
//
// A file NAME.eml (write it under another name and rename it in, so that
// it is never read half-written) holds one RFC 5322 message. Its envelope
// comes from X-Sender and X-Receiver headers when present, otherwise from
// From and To/Cc/Bcc; those envelope headers and Bcc are removed. Bare LF
// line ends are turned into CRLF.
//
// Invariants and the crash argument:
//   - The file is renamed to NAME.<message id>.queued only after the
//     message is durable in the transport database, and deleted only once
//     ownership has passed on: no recipient is pending any more (delivered,
//     relayed to a next hop that took it — shadowed or not — or failed with
//     its DSN). Until then the file is this server's shadow of the message.
//   - A crash before the rename leaves NAME.eml: it is submitted again
//     (at least once, never lost). A crash after it leaves the .queued
//     file, which the next start re-attaches to its message by id.
//   - A file that cannot be parsed or is too large is renamed NAME.bad and
//     left for the operator.
package pickup
