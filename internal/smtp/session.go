package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/header"
	"umbra/internal/mailaddr"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/routing"
)

// Replies umbra gives itself. One place, so that every path answers with
// a precise code and enhanced status code.
var (
	replyTLSRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	// replyTLSRequiredConnectAgain: tls.required on a connection that
	// cannot STARTTLS (opened on a connector without a certificate; a
	// reload gave it one, or gave the address to a connector with one)
	// — not sent to a STARTTLS it cannot do.
	replyTLSRequiredConnectAgain = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "TLS required: this connection cannot start TLS; connect again and issue STARTTLS, closing connection"}
	// replyAuthRequiredConnectAgain: auth.required on a connection that
	// cannot authenticate (cannotAuthenticate: AUTH only over TLS there,
	// and it cannot STARTTLS) — a 4xx that closes it, as
	// replyTLSRequiredConnectAgain: only a new connection can meet it,
	// and a sending server would bounce mail on a 5xx.
	replyAuthRequiredConnectAgain = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Authentication required: AUTH needs TLS here and this connection cannot start TLS; connect again, issue STARTTLS and authenticate, closing connection"}
	replyAuthRequired             = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	replyNoSubmit                 = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Not permitted to submit mail on this connector"}
	replyBadSender                = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	replyBadRcpt                  = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	replyNeedUTF8                 = &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address requires SMTPUTF8"}
	// replyDataTooBig: a message over max_message_size, by DATA as by
	// BDAT (replyBDATTooBig), in umbra's one wording — not go-smtp's
	// "Maximum message size exceeded" for DATA only (front47 F2).
	replyDataTooBig   = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "Message size exceeds fixed maximum message size"}
	replyRelayDenied  = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	replyBareLF       = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Message contains a bare LF; lines must end with CRLF"}
	replyNUL          = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Message contains NUL bytes"}
	replyNoStorage    = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	replyShuttingDown = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
	replyNestedMail   = &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "Nested MAIL command: finish or RSET the open transaction first"}
	replyAuthLimit    = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many authentication failures, closing connection"}
)

func replyLocalError(id queue.ID) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
		Message: "Temporary local problem, try again later (ref " + id.String() + ")"}
}

// session is one SMTP session on a connector. go-smtp keeps it for the
// connection's life and calls it from the connection's goroutine only;
// its context is the server's (go-smtp gives none per command).
type session struct {
	srv  *Server
	c    *connector
	conn *gosmtp.Conn
	raw  net.Conn // the accepted connection, below any TLS
	ip   netip.Addr
	log  *slog.Logger
	// transportAddr, serverAddr: addressIsServer's and
	// topologyServerAddress's answers for ip and the topology each was
	// taken from (ip is the session's; the topology changes only by a
	// reload, which stores a new directory).
	transportAddr, serverAddr atomic.Pointer[addrAnswer]
	// checkHeld: bytes of the body budget the transaction's checks
	// reserved (Transaction.ReserveBody), given back at its end.
	checkHeld int64
	// replBody: a check's replacement body of the transaction, in a
	// spool file (checkDataRest); removed at the transaction's end
	// unless handed to the queue.
	replBody *spooledBody

	user   string // authenticated name, "" if none
	server bool   // authenticated as a transport server
	// serverAccount: the session logged in with a server account (SASL),
	// not only an account on an externally secured connector.
	serverAccount bool
	authFailures  int
	authReserved  bool // an AUTH attempt holds a place with the throttle (authguard.go reserve)
	// authStamp is the account as the credentials held it at AUTH
	// (Credentials.stamp): the account stays valid while the connector
	// in force holds it so (authreload.go). authRevoked: a reload
	// revoked the account since the session's last AUTH, or the
	// connector now at its address would not hold it (dropAuthOffAddress;
	// the session may AUTH again: authAgain).
	authStamp   string
	authRevoked bool
	// authBy is the name of the connector whose credentials judged the
	// session's AUTH (authConn: its own, or the one a reload gave its
	// address to); the account is judged by that connector in force
	// (revocation). "" before any AUTH: its own.
	authBy string
	// authAnchored: authBy names the connector a reload moved the
	// session to, where its authentication stood (dropAuthOffAddress),
	// not one it authenticated at: judged there only while AUTH is
	// offered to this connection (TLS or allow_insecure).
	authAnchored bool
	// authDirectory: the account is the directory's (its stamp says
	// only that): it is asked again (accountstanding.go); authDirServer
	// is the server flag the directory gave it at AUTH (its own, before
	// the topology's judgement: lowerServer's), authName the
	// name the client gave (what the directory's filter matches).
	authDirectory, authDirServer bool
	authName                     string
	// revokeTold: the 530 of an ended authentication (revoked, or one
	// the connector at its address would not hold) was given — in place
	// of a refusal by the rights left to the session (tellLoginLost), or
	// in a 451 at the end of data that named it (rcptRightsLost) — at
	// most once: the session goes on with the rights left to it, and a
	// command those take is never refused to tell it.
	revokeTold bool
	// logBeforeAuth is the session's log before AUTH added the user: a
	// revoked authentication goes back to it (dropRevokedAuth).
	logBeforeAuth *slog.Logger
	// shadowRevoked: the account of the open shadow session was revoked
	// (dropRevokedAuth); the shadow session ends at its next verb.
	shadowRevoked bool
	// revokedWhy: what ended the session's last authentication
	// (revocation, offAddressWhy), for its 530 (replyRevoked), the 451
	// of its transaction (rcptRightsLost) and the 421 of its shadow
	// session.
	revokedWhy string
	// loginRcpts: how many recipients of the open transaction were
	// accepted before its login ended (dropRevokedAuth,
	// dropAuthOffAddress), 0 with none; a refusal of the transaction
	// for one of them names the login's end (rcptRightsLost).
	loginRcpts int
	// loginServer: the ended login was a server account's
	// (loginWouldHold).
	loginServer bool

	vc *verbConn // the verb layer of the connection
	// certVerdict: certNamesNow's judgement of the client certificate
	// under the connector last in force (authreload.go).
	certVerdict *certVerdict

	// shadowServer is the server id of a successful XSHADOW; the
	// session is then a shadow session (W-2). pendingShadowID is the
	// XSHADOW= parameter of the current MAIL (W-3).
	shadowServer string
	// shadowDeparted: the shadow session's server is not in the topology
	// in force; it was let in by the held record of it (departed.go),
	// for the verbs of what is its own here.
	shadowDeparted bool
	// addrRefused: the last XSHADOW was refused for the connection's
	// address alone, its credential (account, certificate) valid
	// (addressedServerID; noteShadowSession).
	addrRefused bool
	// xshadowDB is the database id the last XSHADOW presented (DB=),
	// "" for none: a refusal for the address alone on the connector's
	// trust is the named server's only with the id recorded for it
	// (noteShadowSession, presentsHolderID).
	xshadowDB string
	// refusalCause is the cause of this XSHADOW's refusal when the
	// session knows one the operator reads nowhere else in shadow list
	// (another server's database id: logAnotherDatabase), "" else;
	// told with the refusal (noteShadowSession, RefusalCauseNoter).
	refusalCause string
	// shadowPeerDB is the transport database id the peer presented in
	// that XSHADOW (… MARK=<n> DB=<id>, version 7; MARK DB=<id>, 10), or
	// "": it confirms the authenticated server as a primary of copies
	// held here, whatever name this server knows it by (a send
	// connector's host name: shadowpush.go); never another server's
	// (databaseOfAnother refuses that XSHADOW).
	shadowPeerDB string
	// shadowPeerMark is the rollback mark the peer presented with
	// shadowPeerDB (MARK=<n>, version 7; 0 for none), read at the
	// primary before any discard it pushes in the session (XDISCARD):
	// an early one is kept under it (queue AddEarlyDiscard). Read only
	// while shadowPeerDB is set: the two are set together.
	shadowPeerMark uint64
	// busyTold: the copies in delivery here (version 21, "<id> BUSY")
	// this session told the peer under the database busyToldDB. Each
	// XQUERYTAKENDONE of the session lists the ones not told yet, so a
	// primary that asks round after round (delivery askTakenDone) hears
	// every one, not the same first batch again (shadowtakendone.go).
	busyTold   map[string]bool
	busyToldDB string
	// handedAfter, handedDone: how far this session listed, to a
	// restored client (FROM=), the copies it handed here (queue
	// restoredhanded.go): each told once per session.
	handedAfter string
	handedDone  bool
	// wantMark: the shadow server asked for rollback marks (XSHADOW …
	// MARK, version 7): every XQUERYDISCARD reply carries one.
	wantMark bool
	// codes: the shadow server said CODES at XSHADOW (version 18): the
	// XSHADOW reply and every line of a shadow verb's list carry an
	// enhanced status code (listLine); never for a client that did not.
	codes bool
	// markFloors: the primaries' marks read at the EHLO that offered
	// XSHADOW (version 7), before a primary read the mark it presents in
	// its XSHADOW (queue marks.go: MarkFloor).
	markFloors      map[string]queue.MarkFloor
	pendingShadowID string
	// pendingCopyDB is the XSHADOWCOPY= parameter of the current MAIL:
	// the message is a shadow copy pushed on receipt (receipt.go).
	pendingCopyDB string
	// copyRefused: a command of the current copy's transaction was
	// refused (version 5: the copy is refused whole, receipt.go).
	copyRefused bool
	// pendingBatch is the XSHADOWBATCH= parameter of the current MAIL:
	// its body is a batch of that many copies (version 6, batch.go).
	pendingBatch int
	// pendingCopyMark is the XSHADOWMARK= parameter of the current MAIL
	// (version 7): the primary's rollback mark after the commit of the
	// copy (or the highest of a batch's), 0 when none came.
	pendingCopyMark uint64

	busy atomic.Bool // inside a mail transaction (MAIL … end of DATA)
	// commit: 0 none, 1 a message is being stored and its reply not yet
	// written (data … go-smtp's Reset), 2 the server is closing the
	// session: nothing more is stored (holdCommits).
	commit atomic.Int32
	// querying: inside XQUERYDISCARD (a long poll, then its reply): a
	// drain's last step closes the session only after it (CloseShadow).
	querying atomic.Bool
	// watchOf, watchEnd: the shadow server whose watch session this is,
	// recorded at its first long poll (watching), ended at Logout.
	watchMu  sync.Mutex
	watchOf  string
	watchEnd func()
	from     string
	opts     gosmtp.MailOptions
	rcpt     []queue.Recipient
	rcptKeys map[string]bool // rcptKey of each of rcpt (repeatedRcpt)
	// rcptRepeats counts the RCPTs of the transaction answered 250 as
	// repeats of one it has (repeatedRcpt): they count towards
	// max_recipients as the others do (recipientLimit).
	rcptRepeats int
	// rcptLocal: the addresses of rcpt whose domain was an accepted one
	// when their RCPT was taken (rcptRightsLost names a reload that took
	// the domain, not a right of the connectors, as what lost them).
	rcptLocal map[string]bool
	// foreignOrcpt is the ORCPT of another address type the verb layer
	// took off the RCPT line go-smtp reads now (orcpt.go), for rcptTo.
	foreignOrcpt string

	// Marks of the edge checks (filter.go): the current transaction's,
	// and the session's (Connect and Helo), which every transaction
	// starts with.
	quarantine, sessionQuarantine string
	discard, sessionDiscard       bool
	discardBy, sessionDiscardBy   string // the check that discarded (discardevent.go)
	// checks: the connector's checks with per-session state (filter.go).
	// checkMu serialises them: go-smtp calls Logout (closeChecks) from
	// the shutdown goroutine while the session's may be inside a stage.
	checkMu sync.Mutex
	checks  []Check
	// dataChecks: a check of the session runs at end of data and reads
	// the message whole (Transaction.Content; not a BodyStreamer), so
	// the body is kept in memory (spooldata.go). Set with checks, on
	// the session's goroutine.
	dataChecks bool

	stats *connStats // connect and disconnect log lines: the connection's (connlog.go)

	// declaredSize is MAIL SIZE= of the open transaction (0: none).
	declaredSize int64

	// perms are the connector's permissions as of the last MAIL
	// (refreshRights): has decides with them. narrowed: a reload's
	// configuration would not accept the session as it stands, which
	// was logged once.
	perms    config.Permissions
	narrowed bool
	// kept are the rights the session keeps of its own connector through
	// the reloads (refreshRights): those each configuration in force
	// granted it too. A connector that takes its address now adds to
	// perms what it grants a new connection there, never to kept, so
	// that the address given back to the session's own connector gives
	// it nothing that connector's reloads took.
	kept config.Permissions
	// atTLS, atAuth: the connector that takes the session's address now,
	// another than its own (movedTo), has tls.required, auth.required
	// (refreshRights): has grants no right before TLS, and no anonymous
	// one before AUTH, as on a new connection there — and the rights
	// both grant once the session meets them, STARTTLS or AUTH on this
	// connection, as a new connection gets them there.
	atTLS, atAuth bool
	// binding is the listening address (as configured) the connection
	// came in on, "" for none (refreshRights).
	binding string
	// txc is the connector in force at the open transaction's MAIL,
	// whose settings the transaction reads to its end (txConn,
	// reloadtxn.go); nil outside a transaction. txReq is the connector
	// whose tls.required and auth.required the transaction met at its
	// MAIL (requireConn): txc, or the one that took the session's
	// address then where its own no longer did.
	txc, txReq *connector
}

func (s *Server) newSession(c *connector, conn *gosmtp.Conn) *session {
	var raw net.Conn = conn.Conn()
	if vc, ok := raw.(*verbConn); ok {
		raw = vc.tc
	}
	ss := &session{srv: s, c: c, conn: conn, raw: raw, ip: remoteIP(raw), perms: c.cfg.Permissions, kept: c.cfg.Permissions}
	ss.server = c.cfg.ExternallySecured
	ss.log = s.log.With("connector", c.cfg.Name, "client_ip", ss.ip.String())
	if tc, ok := raw.(*trackedConn); ok {
		ss.binding = tc.binding
		ss.vc = tc.vc
		ss.stats = &tc.stats // counted and logged at accept
		tc.sess.Store(ss)
	} else {
		ss.stats = &connStats{}
		ss.stats.connect(c, ss.log, s.clk, raw)
	}
	return ss
}

func (s *session) tlsActive() bool {
	if s.vc != nil {
		return s.vc.tlsOn.Load()
	}
	_, ok := s.conn.TLSConnectionState()
	return ok
}

// advertiseXShadow: the XSHADOW verb exists on this connector (else 503)
// when shadow redundancy is on organisation-wide and the connector grants
// accept-xshadow to some kind of session; whether this session may use it
// is decided at XSHADOW time, after AUTH (SR-1, W-1). Whether an EHLO
// offers the keyword is advertiseNow's rule (advertise.go). For a
// session whose address a reload gave another connector (movedTo), that
// connector's permissions say whether the verb exists, as for a new
// connection there: its XSHADOW before a server account's AUTH is then
// 550 5.7.1 as there, never 502 for a verb that connector offers.
func (s *session) advertiseXShadow() bool {
	p := s.perms
	if at := s.movedTo(); at != nil {
		p = at.cfg.Permissions
	}
	return shadowOffered(s.srv.shadow, p)
}

// grantsXShadow reports whether the connector in force for the session
// (as advertiseXShadow reads it) grants accept-xshadow to some list, with
// shadow redundancy on or off: whether a server could open a shadow
// session on it at all (advertiseDigest).
func (s *session) grantsXShadow() bool {
	p := s.perms
	if at := s.movedTo(); at != nil {
		p = at.cfg.Permissions
	}
	return grantsXShadow(p)
}

// grantsServers reports whether the connector in force for the session
// grants transport servers any right (permissions.servers), which the
// configuration allows only where a session can be a server's (OPS-3).
func (s *session) grantsServers() bool {
	p := s.perms
	if at := s.movedTo(); at != nil {
		p = at.cfg.Permissions
	}
	return len(p.Servers) > 0
}

// grantsXShadow: some list of p holds accept-xshadow.
func grantsXShadow(p config.Permissions) bool {
	return slices.Contains(p.Servers, config.RightAcceptXShadow) ||
		slices.Contains(p.Authenticated, config.RightAcceptXShadow) || slices.Contains(p.Anonymous, config.RightAcceptXShadow)
}

// shadowOffered is advertiseXShadow for a connector with permissions p
// on a server whose shadow verbs are shadow (nil: off).
func shadowOffered(shadow ShadowVerbs, p config.Permissions) bool {
	return shadow != nil && grantsXShadow(p)
}

// offersShadow reports whether connector c offers the shadow verbs to
// anyone, with its permissions as the configuration now in force has
// them (refreshRights): the layer's question before any session exists.
func (s *Server) offersShadow(c *connector) bool {
	p := c.cfg.Permissions
	if set := s.rights.Load(); set != nil {
		if nc, ok := set.byName[c.cfg.Name]; ok {
			p = nc.cfg.Permissions
		}
	}
	return shadowOffered(s.shadow, p)
}

// shadowVerbRefusal is the reply refusing verb, a shadow verb that
// needs an open shadow session, or "" when s has one: not offered on
// this connector (502 5.5.1, as for any verb not implemented here), not
// permitted to this client (550 5.7.1, as XSHADOW is refused it), or
// the wrong order (503 5.5.1) for a client that may open one.
func (s *session) shadowVerbRefusal(verb string) string {
	if r := s.shadowStanding(); r != "" {
		return r // the shadow session ended by a reload (authreload.go)
	}
	switch {
	case s.shadowServer != "":
		return ""
	case !s.advertiseXShadow():
		return "502 5.5.1 " + verb + " not available"
	case !s.server || !s.has(config.RightAcceptXShadow):
		return "550 5.7.1 Not permitted to use the shadow verbs"
	}
	return "503 5.5.1 XSHADOW first"
}

// startShadow opens a shadow session for serverID (W-2). Only a transport
// server may, and a server that logged in with a server account may only
// speak for itself: its account name is its server id, so it can never
// collect another server's discard notifications. Any other session the
// connector or a certificate made a server's — a plain account's login
// included — is bound by its certificate's names or the topology.
func (s *session) startShadow(serverID string) string {
	s.addrRefused, s.shadowDeparted = false, false
	switch {
	case !s.server || !s.has(config.RightAcceptXShadow):
		s.srv.refusals.log(s.log, "shadow session refused", "not a transport server with accept-xshadow", fixedReply("550 5.7.1"), s.ip, "server_id", serverID)
		return "550 5.7.1 Not permitted to open a shadow session"
	case s.serverAccount && !asciiEqualFold(serverID, s.user):
		s.srv.refusals.log(s.log, "shadow session refused", "server id is not the authenticated account", fixedReply("550 5.7.1"), s.ip, "server_id", serverID)
		return "550 5.7.1 Server id does not match the authenticated account"
	case !s.serverAccount && s.vc != nil && len(s.vc.certNames) > 0 && !slices.ContainsFunc(s.vc.certNames, func(n string) bool { return asciiEqualFold(n, serverID) }):
		s.srv.refusals.log(s.log, "shadow session refused", "server id is not named in the client certificate", fixedReply("550 5.7.1"), s.ip, "server_id", serverID)
		return "550 5.7.1 Server id is not named in the client certificate"
	case !s.serverAccount && (s.vc == nil || len(s.vc.certNames) == 0):
		// No credential names a server: a plain account's login says
		// nothing about which server it is (its name is a user's,
		// whatever it is), so it is bound as the connector's trust
		// alone is.
		if reply := s.bindServerID(serverID); reply != "" {
			return reply
		}
	}
	if reply := s.transportServerID(serverID); reply != "" {
		return reply
	}
	if reply := s.addressedServerID(serverID); reply != "" {
		return reply
	}
	s.shadowServer, s.shadowPeerDB = serverID, ""
	s.stats.shadow.Store(true)
	s.log.Debug("shadow session", "shadow_server", serverID)
	return "250 " + s.srv.shadow.DatabaseID()
}

// bindServerID checks a server id that no credential names (an
// externally secured connector trusts the network, not the peer's word)
// against the topology: the id must be a server of the organisation and
// the connection must come from one of its addresses (issue 19 defect
// 10), so that no peer can collect another server's discard
// notifications. Without a topology there is no organisation to bind
// to, and the connector's trust is all there is.
func (s *session) bindServerID(serverID string) string {
	d := s.srv.servers.Load()
	if d == nil {
		return ""
	}
	switch known, ok := d.d.ServerAt(serverID, s.ip); {
	case !known:
		switch held, at, dbID := s.srv.heldServerAt(serverID, s.ip); {
		case held && at && (dbID == "" || s.xshadowDB != dbID):
			// The address alone is no proof: a departed server's may
			// be another host's by now (decommissioned, reused), and
			// on the connector's trust it would drop the held copies'
			// discards. The database id the record keeps is presented
			// by the server that runs it (departed.go).
			s.bindRefused("database\x00"+serverID, serverID, "server is not in this server's topology, and the session did not present the transport database id the record of its copies held here keeps")
			return "550 5.7.1 Server id not bound: it is not in this server's topology, and only a session presenting the transport database id of that server's copies held here (XSHADOW <server-id> MARK DB=<database-id>) is let in"
		case held && at:
			// A server the topology no longer names, from the address
			// the record of what is held of it here names (departed.go).
			s.shadowDeparted = true
			return ""
		case held:
			s.addrRefused = true
			s.bindRefused("address\x00"+serverID, serverID, "server is not in this server's topology, and the connection is not from the address the record of its copies held here names")
			return "550 5.7.1 Server id does not match the connection's address: " + s.ip.String() +
				" is not the address of that server's copies held here (it is not in this server's topology)"
		}
		// Paced per stated name (a minute), the names past the log's
		// bound sharing one entry: any name may come (departed.go).
		s.topologyRefused(serverID)
		return "550 5.7.1 Server id is not a server of the organisation"
	case !ok:
		// The address is the only cause: told apart (noteShadowSession),
		// as for an account or certificate from another address (rt39 F2).
		s.addrRefused = true
		if o, ok := s.srv.obs.(ShadowAddressObserver); ok { // umbra_smtp_shadow_address_refused_total, as addressedServerID's
			o.ShadowAddressRefused(s.serverLabel(serverID))
		}
		s.bindRefused("address\x00"+serverID, serverID, "connection is not from an address of that server in the topology")
		return "550 5.7.1 Server id does not match the connection's address: " + s.ip.String() +
			" is neither that server's topology address nor one of its source_addresses"
	}
	return ""
}

// bindServerID's refusals are the operator's to fix (the peer's
// topology lists this server, this server's does not list the peer, or
// not at that address), and the peer repeats its session every
// heartbeat: the WARN is paced, once per anotherDatabaseLogEvery per key (the source,
// an IPv6 one by its /64, for a name the topology does not know, the
// server for one it lists at other addresses; past maxLogKeys keys one
// shared entry), with the refusals since the last WARN counted on it; those
// between are logged at DEBUG (rt39 F3: one WARN every 2 s).
func (s *session) bindRefused(key, serverID, reason string) {
	warn, suppressed := s.srv.bindRefusals.refused(key)
	level := slog.LevelDebug
	args := []any{"server_id", serverID, "reason", reason, "code", 550, "enhanced_code", "5.7.1"}
	if warn {
		level = slog.LevelWarn
		if suppressed > 0 {
			args = append(args, "refused_since_last_warning", suppressed)
		}
	}
	s.log.Log(context.Background(), level, "shadow session refused", args...)
}

// transportServerID refuses a server id the topology gives a server
// that is not a transport server (a mailbox or legacy server): it keeps
// no shadow copies and may not collect discard notifications, however
// it authenticated (F9). An id the topology does not know is left to
// the binding above (an externally secured connector refuses it; a
// server account or certificate the topology does not know has no
// server rights: anyTransport).
func (s *session) transportServerID(serverID string) string {
	d := s.srv.servers.Load()
	if d == nil {
		return ""
	}
	if s.shadowDeparted {
		return "" // known by what is held of it (departed.go); only transport servers' copies are held
	}
	if known, _ := d.d.ServerAt(serverID, s.ip); !known || !d.d.Transport(serverID) {
		s.srv.refusals.log(s.log, "shadow session refused", "server id is not a transport server of the topology", fixedReply("550 5.7.1"), s.ip, "server_id", serverID)
		return "550 5.7.1 Server id is not a transport server of the organisation"
	}
	return ""
}

// forgetAfterTLS drops what the session learnt before STARTTLS
// (RFC 3207 §4.2).
func (s *session) forgetAfterTLS() {
	s.logTLS()
	// The connector's trust only while the connector in force keeps it
	// (serverNow): a reload that took it away is not undone by STARTTLS.
	s.user, s.server, s.shadowServer, s.shadowPeerDB = "", s.trustInForce(), "", ""
	s.serverAccount, s.authStamp, s.authBy, s.authAnchored = false, "", "", false
	s.authRevoked, s.revokeTold, s.shadowRevoked = false, false, false // nothing of before is owed
	if s.vc != nil && len(s.vc.certNames) > 0 && s.anyTransport(s.vc.certNames...) {
		s.server = true // a certificate of the organisation names a transport server
		s.log = s.log.With("certificate", s.vc.certNames[0])
	}
	s.Reset()
}

// forgetShadowParams forgets the shadow id and the copy of the last MAIL
// (XSHADOW=, XSHADOWCOPY= and what comes with it): each MAIL sets them
// anew from its own parameters (mailParams).
func (s *session) forgetShadowParams() {
	s.pendingShadowID, s.pendingCopyDB, s.pendingBatch, s.pendingCopyMark = "", "", 0, 0
	s.copyRefused = false
}

// refreshRights takes the permissions of the session's connector as the
// configuration now in force has them (a reload may have changed them
// since the session began: rt21b L4), at each MAIL and each RCPT (rt22b
// L2) — a transaction in progress keeps the recipients it has, judged
// again at its DATA or first BDAT chunk and at its end of data
// (rcptRightsLost) — at each
// EHLO and shadow verb (the XSHADOW keyword, shadowOff, xshadow: rr25
// F3) and before the recipients a check adds at the end of data.
//
// The new permissions are the session's in full only when the new
// configuration would accept it on that connector as it stands
// (acceptedAsIs): its address is in the connector's new ranges and no
// other connector of its binding takes it, and it meets the new
// connector's tls.required, auth.required and, for a transport server
// by the connector's trust alone, externally_secured. Otherwise it
// keeps only the rights both its own and the new permissions grant — a
// reload takes rights away from it, never adds one (rr27 F1: a reload
// that narrowed default from 0.0.0.0/0 to 10.0.0.0/8 and granted
// anonymous relay there gave relay to every session already open from
// a public address) — and, where its connector no longer takes its
// address, only what the connector a new connection from its address on
// its binding would get grants too (atAddress): none when no connector
// would take it; where one does, that connector's anonymous rights, all
// of them, as a new connection from the address gets them there in the
// TLS state the session has (the address is that connector's now: an
// operator who grants relay there means it for every session from it;
// kept, the rights of its own, stays the baseline should the address
// come back) — and its authenticated ones where that connector would
// authenticate the session's account as its own did (authsAt), or for
// an account it authenticated itself since (authConn judges AUTH; an
// authentication it would not hold ended first: dropAuthOffAddress): a
// certificate and a trust were judged by the connector it began on,
// not by that one's client CA or trust —, and where that connector
// requires TLS or AUTH, those only while the session meets it (atTLS,
// atAuth: has), so that its STARTTLS or AUTH on the connection gives
// them as a new connection there gets them. So a reload that narrowed
// the ranges away from the session's address takes from it the rights the old configuration granted too,
// relay included (rt31b F1), and so does one that removed or renamed its
// connector (rt31b R1: the session's other settings stay those it began
// with, but it keeps no right a connector in force would not give it).
func (s *session) refreshRights() {
	set := s.srv.rights.Load()
	if set == nil {
		return
	}
	s.dropAuthOffAddress()
	s.atTLS, s.atAuth = false, false
	nc := set.byName[s.c.cfg.Name]
	if nc != nil && s.acceptedAsIs(set, nc) {
		s.perms, s.kept = nc.cfg.Permissions, nc.cfg.Permissions
		return
	}
	perms := s.kept
	if nc != nil {
		perms = bothPerms(perms, nc.cfg.Permissions)
	}
	s.kept = perms
	at := s.atAddress(set, nc)
	switch {
	case at == nil:
		perms = config.Permissions{}
	case at != nc:
		// Where at requires TLS or AUTH, the rights both grant wait for
		// the session to meet it (atTLS, atAuth: has), as on a new
		// connection there, and come with it — STARTTLS and AUTH on this
		// connection are judged by at (startTLSConfig, authConn) — not
		// taken for good: a session that meets them gets what a new
		// connection would there.
		s.atTLS, s.atAuth = at.cfg.TLS.Required, at.cfg.Auth.Required
		// The anonymous rights are at's own, as a new connection from
		// the address gets them there in the TLS state the session has
		// (has: none before TLS where at requires it, none before AUTH
		// where at requires that): the address is at's now, and an
		// operator who grants it relay there means it for a session
		// that came before the reload as for one after (front33).
		p := config.Permissions{Anonymous: at.cfg.Permissions.Anonymous}
		switch {
		case s.user != "" && s.revocation() == "" && (at == s.authJudge() || s.authsAt(at)):
			// An authentication at judged (an AUTH since the reload) or
			// would give as it stands (authsAt): the session is that
			// account's on at, as a new connection from its address that
			// authenticates so is, with at's authenticated rights — not
			// only those its own connector granted too, which for a
			// connector without AUTH are none.
			p.Authenticated = at.cfg.Permissions.Authenticated
		case s.user == "" || s.revocation() != "":
			// A revoked login is dropped (standing) before any has reads
			// the rights: as unauthenticated, so that an AUTH again at at
			// regains them.
			// Unauthenticated (dropAuthOffAddress ended an authentication
			// at would not hold), the authenticated rights are unused
			// until an AUTH, which at judges (authConn); its next MAIL or
			// RCPT gives them as above.
			p.Authenticated = bothGrant(perms.Authenticated, at.cfg.Permissions.Authenticated)
		}
		// The servers' rights: at's own for a server account whose
		// authentication stands at at (serverNow), as a new connection
		// there would be a transport server by it; else those both
		// grant, unused: any other standing as a transport server ends
		// here, before has can read them.
		s.lowerServer()
		p.Servers = bothGrant(perms.Servers, at.cfg.Permissions.Servers)
		if s.server && s.serverAccount && s.user != "" && (at == s.authJudge() || s.authsAt(at)) {
			// A transport server by a server account whose authentication
			// stands at at (serverNow): at's servers' rights, as for its
			// authenticated rights above.
			p.Servers = at.cfg.Permissions.Servers
		}
		perms = p
	}
	s.perms = perms
	if !s.narrowed {
		s.narrowed = true
		inForce, ranges, atName := "", []string(nil), ""
		if nc != nil {
			inForce, ranges = nc.cfg.Name, nc.cfg.RemoteRanges
		}
		if at != nil {
			atName = at.cfg.Name
		}
		s.log.Info("session outside its connector's configuration now in force: it keeps only the rights both configurations grant, or where another connector takes its address that connector's, as a new connection there gets them",
			"connector_in_force", inForce, "new_connector_ranges", ranges, "connector_at_address", atName)
	}
}

// atAddress is the connector in force that a new connection from the
// session's address on its binding would be given: nc, the session's
// connector as set has it, when it would be; else the one the binding
// picks now (another connector with a more specific range, one of
// another name on the binding), nil when none would take it (the
// connection would be refused) or the session came by no binding.
func (s *session) atAddress(set *rightsSet, nc *connector) *connector {
	if nc != nil && set.picks(nc, s.binding, s.ip) {
		return nc
	}
	return set.pick(s.binding, s.ip)
}

// authsAt reports whether the session's authentication would hold on
// connector at as on its own: at offers AUTH to this connection (in
// clear only with allow_insecure) and its credentials hold the account
// as they held it at AUTH (the same stamp: hash and server flag, or the
// directory's). A session another connector takes now keeps that one's
// authenticated rights only then (refreshRights).
func (s *session) authsAt(at *connector) bool {
	return s.user != "" && s.authStamp != "" && at.creds != nil && len(at.cfg.Auth.Mechanisms) > 0 &&
		(s.tlsActive() || at.cfg.Auth.AllowInsecure) && at.creds.stamp(s.user) == s.authStamp
}

// movedTo is the connector in force that takes the session's address
// now where it is another than the session's own (its ranges narrowed
// away from the address, the connector removed or renamed: atAddress),
// nil while its own takes the address or none does.
func (s *session) movedTo() *connector {
	set := s.srv.rights.Load()
	if set == nil {
		return nil
	}
	nc := set.byName[s.c.cfg.Name]
	if at := s.atAddress(set, nc); at != nc {
		return at
	}
	return nil
}

// cannotAuthenticate reports whether no AUTH can succeed on this
// connection now, where a new connection from its address could: the
// connector that judges its AUTH (authConn) offers it only over TLS,
// the session is in clear, and the connection cannot start TLS (it was
// opened on a connector without a certificate: startTLSConfig nil).
func (s *session) cannotAuthenticate() bool {
	if s.tlsActive() || s.vc == nil || s.vc.startTLSConfig() != nil {
		return false
	}
	c := s.authConn()
	return c != nil && c.creds != nil && !c.cfg.Auth.AllowInsecure
}

// hangUpAfter makes the reply being given the session's last: the
// connection closes after it (a 421).
func (s *session) hangUpAfter() {
	if tc, ok := s.raw.(*trackedConn); ok {
		tc.hangUp.Store(true)
	}
}

// requireConn is the connector whose tls.required and auth.required a
// MAIL of the session meets: the transaction's (txConn) while its own
// connector takes its address, else the one that takes it (movedTo),
// whose replies a new connection from the address gets — 530 5.7.0
// Must issue a STARTTLS command first, 530 5.7.0 Authentication
// required —, not the 530 5.7.1 of a right refused. Taken at the MAIL
// and kept to the transaction's end (txReq), as txConn is: a copy of a
// batch meets what the batch's MAIL met.
func (s *session) requireConn() *connector {
	if s.txReq != nil {
		return s.txReq
	}
	if at := s.movedTo(); at != nil {
		return at
	}
	return s.txConn()
}

// atOwnConnector reports whether the configuration in force still has
// the session's connector (by its name) and would give it to a new
// connection from the session's address on its binding. A session it
// no longer would — the connector removed or renamed, or its ranges
// narrowed away from the address — is a transport server no more
// (serverNow) and its shadow session ends (shadowStanding): its
// certificate, server account and trust were judged on a connector
// that no longer takes its address (rt31b F1, R1).
func (s *session) atOwnConnector() bool {
	set := s.srv.rights.Load()
	if set == nil {
		return true
	}
	nc := set.byName[s.c.cfg.Name]
	return nc != nil && s.atAddress(set, nc) == nc
}

// trustInForce reports whether the trust of the session's connector
// (externally_secured) still holds under the configuration in force: the
// connector it began on was externally secured, and the connector of its
// name in force still is and still takes its address (atOwnConnector).
// A reload that removed or renamed the connector, took
// externally_secured from it, or narrowed its ranges away from the
// session's address took the trust (rt31b F1, R1).
func (s *session) trustInForce() bool {
	return s.c.cfg.ExternallySecured && s.inForceOrOwn().cfg.ExternallySecured && s.atOwnConnector()
}

// bothPerms is, class by class, the rights both have and grant grant.
func bothPerms(have, grant config.Permissions) config.Permissions {
	return config.Permissions{
		Anonymous:     bothGrant(have.Anonymous, grant.Anonymous),
		Authenticated: bothGrant(have.Authenticated, grant.Authenticated),
		Servers:       bothGrant(have.Servers, grant.Servers),
	}
}

// acceptedAsIs reports whether nc, the session's connector as the
// configuration in force set has it, would accept the session as it
// stands: a new connection from its address on its binding gets nc,
// and the session meets nc's requirements of TLS and AUTH, and is a
// transport server by a credential, or nc is externally secured. A
// requirement the connector the session began on had too is no reload's:
// a session there that has not met it yet is where every session there
// begins (its MAIL waits for it: openMail), not outside its connector
// (front38 F1: each EHLO on a tls.required connector logged a reload's
// narrowing that never happened, and used up the one line a real one
// would log). Only while no transaction is open: one that is was opened
// by a MAIL that did not meet it (a reload had taken it off, or moved the
// session to a connector without it), and a reload that puts it back
// narrows that transaction as any reload adding it does (rrfront38 F1:
// its RCPT got the relay the reload granted to those who meet it).
func (s *session) acceptedAsIs(set *rightsSet, nc *connector) bool {
	atStart := !s.busy.Load() // the session's MAIL is still to meet its connector's requirements
	switch {
	case !set.picks(nc, s.binding, s.ip):
		return false
	case nc.cfg.TLS.Required && !(atStart && s.c.cfg.TLS.Required) && !s.tlsActive():
		return false
	case nc.cfg.Auth.Required && !(atStart && s.c.cfg.Auth.Required) && s.user == "":
		return false
	case s.server && !s.serverAccount && s.c.cfg.ExternallySecured && !nc.cfg.ExternallySecured:
		// A transport server by the old connector's trust (or by a
		// certificate: judged as the trust, erring toward less).
		return false
	}
	return true
}

// bothGrant is the rights of have that grant grants too.
func bothGrant(have, grant []string) []string {
	var out []string
	for _, r := range have {
		if slices.Contains(grant, r) {
			out = append(out, r)
		}
	}
	return out
}

// rights are cumulative: every session has the anonymous rights; an
// authenticated one adds the authenticated rights; a transport server
// (SASL server account or externally secured connector) adds the servers'.
// Where the connector that takes the session's address now, another than
// its own, requires TLS or AUTH (atTLS, atAuth), none before TLS, and no
// anonymous one before AUTH, as on a new connection there.
func (s *session) has(right string) bool {
	p := s.perms
	if s.atTLS && !s.tlsActive() {
		return false // the connector at its address requires TLS first
	}
	if (!s.atAuth || s.user != "") && slices.Contains(p.Anonymous, right) {
		return true
	}
	if s.user != "" && slices.Contains(p.Authenticated, right) {
		return true
	}
	return s.server && slices.Contains(p.Servers, right)
}

// AuthMechanisms are the mechanisms the connector that would take the
// session's address now offers (authConn): none when its own connector
// was removed or renamed, or no connector in force would take the
// address (its ranges narrowed away with no other taking it): go-smtp's
// EHLO reply lists them.
func (s *session) AuthMechanisms() []string {
	if c := s.authConn(); c != nil {
		return c.cfg.Auth.Mechanisms
	}
	return nil
}

// Auth starts an AUTH exchange, judged against the connector in force
// that a new connection from the session's address would be given
// (authConn, authreload.go): its own connector while that one takes the
// address, another a reload gave the address to or renamed it to; none
// — refused 454 — where no connector in force takes the address (a new
// connection would be refused: no password is checked for it). Its
// mechanisms and
// credentials at this moment, not those the connection was opened
// with.
func (s *session) Auth(mech string) (sasl.Server, error) {
	cur := s.authConn()
	if cur == nil {
		s.srv.refusals.log(s.log, "authentication refused", "no_connector_at_address", replyAuthNoConnectorAtAddress, s.ip)
		return nil, replyAuthNoConnectorAtAddress
	}
	if err := s.authAllowed(cur, mech); err != nil {
		return nil, err
	}
	check := func(identity, name, password string) error {
		// The connector and credentials in force when the response
		// arrives, not those of the exchange's first line: a reload
		// between a 334 and the client's answer (LOGIN's password,
		// PLAIN without an initial response) judges it (authSpanned).
		cur, err := s.authSpanned(mech)
		if err != nil {
			return err
		}
		creds := cur.creds
		// The attempt takes its place against the source before any
		// password is checked: attempts under way count, so concurrent
		// guesses cannot all be checked (authguard.go).
		s.authReserved = s.srv.guard.reserve(s.srv.ctx, s.ip)
		locked := !s.authReserved
		defer func() {
			if s.authReserved {
				s.authReserved = false
				s.srv.guard.release(s.ip)
			}
		}()
		if identity != "" && identity != name {
			if locked {
				creds.equalise(s.srv.ctx)
				return s.authLockedOut(name)
			}
			account := ""
			if creds != nil && creds.exists(name) {
				account = name
			}
			return s.authFailed(name, account, "identity_mismatch")
		}
		if locked && !creds.mayBeServer(name) {
			// Only a transport server account may pass a lock-out: any
			// other name's password is not checked (no hash, no directory
			// bind for a guesser), and the answer comes after the time a
			// check takes, as for every name.
			creds.equalise(s.srv.ctx)
			return s.authLockedOut(name)
		}
		user, server, err := creds.CheckContext(s.srv.ctx, name, password)
		// The throttle counts against the account the name resolved to
		// (a directory may fold many typed names to one entry), and
		// against the name as typed only when it is no account's.
		counted := name
		if user != "" {
			counted = user
		}
		if locked && (err != nil || !server) {
			// A lock-out of the address never keeps a transport server
			// out (issue 14): only a server account's right password
			// passes it.
			return s.authLockedOut(counted)
		}
		if errors.Is(err, errAccountsUnavailable) { // not the client's failure: no throttle
			// A refusal like the others, through the refusal log (front47
			// F1: a WARN line per AUTH let any client write the log while
			// the directory was down).
			// A lookup that panicked (umbra's own defect, recovered and
			// logged with its panic where it happened) is said as such,
			// as a RCPT's is (rcptcheck.go), not as the directory's: its
			// reason, and its err (lookupInternalError).
			reason := "accounts_unavailable"
			if errors.Is(err, recipients.ErrInternal) {
				reason = "internal_error"
			}
			s.srv.refusals.log(s.log, "authentication refused", reason, replyAuthTempFail, s.ip, "err", err.Error())
			return replyAuthTempFail
		}
		if err != nil {
			return s.authFailed(counted, user, "bad_credentials") // user: the account, if name is one
		}
		if s.authReserved {
			s.authReserved = false
			s.srv.guard.release(s.ip)
		}
		if !server && s.srv.guard.lockedOut(s.ip) {
			// The source was locked out while this password was being
			// checked: a right guess then is one too many.
			return s.authLockedOut(counted)
		}
		s.srv.guard.succeeded(user)
		// The directory's own verdict, before the topology's judgement
		// below: what directoryStanding compares the directory's later
		// verdicts with, and what the shared cache holds for every
		// session of the account. The topology's side is lowerServer's
		// (serverNow) at each MAIL and RCPT.
		dirServer := server
		if server && !s.anyTransport(user) {
			// A server account the topology does not give a transport
			// server (a stale line for a decommissioned server, a typo):
			// an authenticated user, without the servers' rights.
			s.log.Warn("server account is not a transport server of the topology: authenticated without the servers' rights", "user", user)
			server = false
		}
		// The identity, not the name as typed: variants of one account
		// ("carol ", "CAROL") are one user for rate limits and logs.
		s.user, s.server = user, server || s.trustInForce()
		s.serverAccount = server
		s.authStamp, s.authBy, s.authAnchored = creds.stamp(user), cur.cfg.Name, false
		// An account of the directory is asked again at MAIL and RCPT
		// (accountstanding.go): this AUTH is its first verdict.
		s.authDirectory, s.authDirServer, s.authName = s.authStamp == stampDirectory, dirServer, name
		if s.authDirectory {
			s.srv.standing.put(user, standingVerdict{found: true, server: dirServer, at: s.srv.clk.Now()})
		}
		// Authenticated anew (authAgain): a revocation of an earlier
		// AUTH is no longer owed its 530, and a later one is told.
		s.authRevoked, s.revokeTold = false, false
		s.logBeforeAuth = s.log
		s.log = s.log.With("user", user)
		s.log.Info("authenticated", "transport_server", s.server)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return saslReplies{sasl.NewPlainServer(check)}, nil
	case sasl.Login:
		return saslReplies{newLoginServer(func(name, password string) error { return check("", name, password) })}, nil
	}
	return nil, replyAuthUnknownMech
}

// replyRequireTLSPlain refuses MAIL ... REQUIRETLS outside TLS (RFC 8689 §4.1).
var replyRequireTLSPlain = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 10}, Message: "REQUIRETLS needs a TLS session"}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	return s.mail(from, opts)
}

func (s *session) mail(from string, opts *gosmtp.MailOptions) error {
	if s.busy.Load() {
		// RFC 5321 §4.1.4: MAIL inside an open transaction is out of
		// sequence; the open one (its recipients) stays as it was.
		return replyNestedMail
	}
	select {
	case <-s.srv.draining:
		// The drain lets the transactions in progress at its start
		// finish, and no other: a MAIL sent after it began (behind the
		// final dot of one in progress, or before the drain's next look
		// at the session) opens none — the drain would wait for it, to
		// the session's idle timeout when its client goes silent. The
		// reply is the one an idle session gets at the drain's start,
		// and the session's last; a shadow session the drain keeps open
		// for its discards (Drain) stays open, for its long polls.
		if !s.stats.shadow.Load() {
			tc, ok := s.raw.(*trackedConn)
			if ok && testHookMailDraining != nil {
				testHookMailDraining(tc, false)
			}
			if ok && (tc.ending.Load() || !tc.claimLast(lastBySession)) {
				// The drain's look at the session came first: it
				// writes the 421 and logs the end (closeIdle); this
				// reply, and any after it, is not written
				// (verbConn.write), so the client gets one 421 and
				// the log one line.
				if s.vc != nil {
					s.vc.dropReplies.Store(true)
				}
				return replyShuttingDown
			}
			if ok && testHookMailDraining != nil {
				testHookMailDraining(tc, true)
			}
			s.hangUpAfter()
			s.log.Info("session ended", append([]any{"reason", endShuttingDown}, replyAttrs(replyShuttingDown)...)...)
		}
		return replyShuttingDown
	default:
	}
	s.Reset()
	s.refreshRights()
	if err := s.standing(); err != nil {
		// An account a reload revoked, a shadow session that may not go
		// on: judged by the configuration in force (authreload.go).
		return err
	}
	s.followChecks()
	s.txc = s.inForceOrOwn() // the transaction's settings (reloadtxn.go)
	s.txReq = s.movedTo()
	if s.txReq == nil {
		s.txReq = s.txc
	}
	if err := s.openMail(from, opts); err != nil {
		s.txc, s.txReq = nil, nil
		if r, ok := err.(*gosmtp.SMTPError); ok {
			told := s.tellLoginLost(r) // a login's end told in a refusal of the rights left
			switch {
			case told != r:
				s.srv.refusals.log(s.log, "sender refused", "login_ended", told, s.ip)
			case r == replyTLSRequired, r == replyTLSRequiredConnectAgain, r == replyAuthRequired, r == replyAuthRequiredConnectAgain, r == replyNoSubmit:
				// What the session lacks, in the refusal log as a
				// recipient's refusal for it is (refusalReason).
				s.srv.refusals.log(s.log, "sender refused", refusalReason(r), r, s.ip)
			}
			return told
		}
		return err
	}
	s.busy.Store(true)
	return nil
}

// openMail checks a MAIL and opens its transaction's state, leaving the
// busy mark as it is: MAIL sets it after, and a copy of a batch (batch.go)
// runs inside the batch's transaction, busy until its reply. A refused
// MAIL leaves no transaction state.
func (s *session) openMail(from string, opts *gosmtp.MailOptions) error {
	s.declaredSize = 0
	if opts != nil {
		s.declaredSize = opts.Size // sizes the body's buffer (bodyscan.go)
	}
	cur := s.requireConn() // the requirements in force (a reload's), at the session's address
	switch {
	case cur.cfg.TLS.Required && !s.tlsActive() && s.vc != nil && s.vc.tlsCfg == nil:
		// Opened on a connector without a certificate: this connection
		// has no STARTTLS to offer, a new one has. A 421 that closes
		// it, not a 5xx: a sending server would bounce mail a new
		// connection takes.
		s.hangUpAfter()
		return replyTLSRequiredConnectAgain
	case cur.cfg.TLS.Required && !s.tlsActive():
		return replyTLSRequired
	case opts != nil && opts.RequireTLS && !s.tlsActive():
		return replyRequireTLSPlain
	case cur.cfg.Auth.Required && s.user == "" && s.cannotAuthenticate():
		s.hangUpAfter() // as above: only a new connection can authenticate
		return replyAuthRequiredConnectAgain
	case cur.cfg.Auth.Required && s.user == "":
		return replyAuthRequired
	case !s.has(config.RightSubmit) && !s.has(config.RightRelay):
		return replyNoSubmit
	case s.srv.ctx.Err() != nil:
		return replyShuttingDown
	}
	if err := s.backPressure(); err != nil {
		return err
	}
	if from != "" {
		if r := RawUTF8Refusal(from, opts != nil && opts.UTF8); r != nil {
			return r
		}
		a, err := parsePathAddress(from)
		if r := idnReply(err, 7); r != nil {
			return r
		}
		if r := literalReply(err, 7); r != nil {
			return r
		}
		if err != nil {
			return syntaxReply(err, replyBadSender)
		}
		if r := UTF8Refusal(a, opts != nil && opts.UTF8); r != nil {
			return r
		}
		from = a.String()
	}
	s.from = from
	if opts != nil {
		s.opts = *opts
	}
	if s.copyOfPrimary() {
		return nil // its primary's checks judged it (copyOfPrimary)
	}
	if err := s.checkMail(from, opts); err != nil {
		s.resetTransaction()
		return err
	}
	return nil
}

func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	// A right a reload took away (relay) refuses the next recipient, in
	// the open transaction too; those it has are kept (rt22b L2). So
	// does an account a reload revoked (authreload.go).
	s.refreshRights()
	if err := s.standing(); err != nil {
		return err
	}
	if r := s.recipientLimit(); r != nil {
		return r
	}
	if f := s.foreignOrcpt; f != "" {
		// An ORCPT of another address type the verb layer took off
		// this RCPT line (orcpt.go): checked and stored as any other.
		s.foreignOrcpt = ""
		typ, addr, _ := strings.Cut(f, ";")
		o := gosmtp.RcptOptions{}
		if opts != nil {
			o = *opts
		}
		o.OriginalRecipientType, o.OriginalRecipient = gosmtp.DSNAddressType(typ), addr
		opts = &o
	}
	return s.rcptTo(to, opts)
}

func (s *session) rcptTo(to string, opts *gosmtp.RcptOptions) error {
	to, postmaster := s.postmasterAlias(to)
	if r := RawUTF8Refusal(to, s.opts.UTF8); r != nil {
		return r
	}
	a, err := parsePathAddress(to)
	if err != nil {
		return RcptRefusal(err)
	}
	if r := UTF8Refusal(a, s.opts.UTF8); r != nil {
		return r
	}
	if a.Literal() {
		if !s.ownPostmasterLiteral(a) {
			s.srv.refusals.log(s.log, "recipient refused", "address_literal", replyAddressLiteral, s.ip, "rcpt", a.String())
			return replyAddressLiteral
		}
		a, err = parsePathAddress(s.srv.postmaster)
		if err != nil {
			return replyBadRcpt
		}
		postmaster = true
	}
	if r := DomainRefusal(a); r != nil {
		s.srv.refusals.log(s.log, "recipient refused", "ip_text_domain", r, s.ip, "rcpt", a.String())
		return r
	}
	if !s.relayAllowed(a, postmaster) {
		// A recipient of an accepted domain without the right to submit
		// gets MAIL's refusal, one outside them without relay the
		// relay's (rcptRefusal, rt32b F2).
		reply, reason := s.rcptRefusal(a.Domain)
		if told := s.tellLoginLost(reply); told != reply { // a login's end told here, in a refusal of the rights left
			reply, reason = told, "login_ended"
		}
		msg := "relay denied"
		if reason != "relay_denied" {
			msg = "recipient refused"
		}
		s.srv.refusals.log(s.log, msg, reason, reply, s.ip, "rcpt", a.String(), "authenticated", s.user != "")
		return reply
	}
	if opts != nil && opts.OriginalRecipient != "" && !printableText(opts.OriginalRecipient) {
		return replyBadOrcpt
	}
	if opts != nil && utf8.RuneCountInString(opts.OriginalRecipient) > maxOrcpt {
		return replyLongOrcpt
	}
	if s.repeatedRcpt(a) {
		s.rcptRepeats++
		return nil
	}
	if !s.copyOfPrimary() { // a shadow copy's recipients are its primary's
		if err := s.validateRcpt(a); err != nil {
			return err
		}
		if err := s.checkRcpt(a.String()); err != nil {
			return err
		}
	}
	r := queue.Recipient{Addr: a.String()}
	if opts != nil {
		for _, n := range opts.Notify {
			switch n {
			case gosmtp.DSNNotifyNever:
				r.Notify |= queue.NotifyNever
			case gosmtp.DSNNotifySuccess:
				r.Notify |= queue.NotifySuccess
			case gosmtp.DSNNotifyFailure:
				r.Notify |= queue.NotifyFailure
			case gosmtp.DSNNotifyDelayed:
				r.Notify |= queue.NotifyDelay
			}
		}
		if opts.OriginalRecipient != "" {
			r.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
	}
	if postmaster && r.ORcpt == "" {
		r.ORcpt = "rfc822;postmaster"
	}
	s.rcpt = append(s.rcpt, r)
	if s.rcptKeys == nil {
		s.rcptKeys = map[string]bool{}
	}
	s.rcptKeys[s.rcptKey(r.Addr)] = true // only once accepted: a refused one may be tried again
	if s.srv.routing.Load().Accepted(a.Domain) != routing.NotAccepted {
		if s.rcptLocal == nil {
			s.rcptLocal = map[string]bool{}
		}
		s.rcptLocal[r.Addr] = true
	}
	return nil
}

// repeatedRcpt reports a recipient the transaction already has, by
// rcptKey (the domain without a trailing dot and in either form of an
// internationalised name; the local part in ASCII case for an
// authoritative domain, exactly as written for any other; a quoted
// local part was unquoted by the parser): the repeat is answered 250 and not stored again, and the
// first RCPT's DSN parameters stand. Stored
// twice, final delivery would find the message already in the mailbox
// and count and log the second as a shadow-redundancy duplicate, which
// any client could then set off (rt44 L3); a relay would send the next
// hop the recipient twice. A shadow copy keeps the recipient list its
// primary sent, as sent.
func (s *session) repeatedRcpt(a Address) bool {
	if s.pendingCopyDB != "" {
		return false
	}
	return s.rcptKeys[s.rcptKey(a.String())]
}

// rcptKey is the comparison key of a recipient address in the
// transaction's recipient set (mailaddr.RcptKey): the local part folded
// in ASCII case only for a domain this organisation is authoritative
// for — its directory and Maildir match so, and "Bob@" and "bob@" are
// one mailbox —, kept exact for any other, whose host alone interprets
// it (RFC 5321 §2.4): "TD@good.test" and "td@good.test" are both
// relayed (rt17b-F2).
func (s *session) rcptKey(addr string) string {
	return RcptKeyIn(s.srv.routing.Load(), addr)
}

// RcptKey is the comparison key of a recipient under the current
// accepted domains (a reload's included), as a session's recipient set
// compares (rcptKey): for the recipient lists outside a session — a
// pickup file's repeats, the callout's answers — so that they never
// drift from RCPT's.
func (s *Server) RcptKey(addr string) string {
	return RcptKeyIn(s.routing.Load(), addr)
}

// RcptKeyIn is mailaddr.RcptKey of addr (a final dot aside), owned when
// t's accepted domains make this organisation authoritative for its
// domain (nil t: none): the domain's key made once, for both (IDNA once
// per address). Server.RcptKey is it under the server's current table.
func RcptKeyIn(t *routing.Table, addr string) string {
	addr = strings.TrimSuffix(addr, ".")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return mailaddr.RcptKey(addr, false)
	}
	local, d := addr[:at], mailaddr.DomainKey(addr[at+1:])
	if t != nil && t.AcceptedKey(d) == routing.Authoritative {
		local = mailaddr.Fold(local) // AddrKey's: the local part's ASCII case
	}
	return local + "@" + d
}

func (s *session) Data(r io.Reader) error {
	return s.data(r)
}

func (s *session) data(r io.Reader) error {
	// The transaction's content ends here; the session stays busy until
	// the protocol layer has written the reply and calls Reset, so that
	// a draining Shutdown never answers 421 in place of this reply.
	defer s.resetTransaction()
	defer s.releaseCheckBody() // the checks' bodies (a milter's replacement) are let go by now
	var sp *spooledBody        // a body past the spool threshold (spooldata.go)
	ended := ""                // what ended the authentication before the body was judged (BDAT: while its chunks came)
	defer func() {
		if sp == nil {
			sp = s.takeSpooled()
		}
		sp.abort() // unless it was handed to the queue
		s.replBody.abort()
		s.replBody = nil
	}()
	if len(s.rcpt) == 0 {
		return replyNoRecipients // never queue a message without recipients
	}
	if s.pendingCopyDB != "" && s.copyRefused {
		return replyCopyPartial // all or nothing (version 5, receipt.go)
	}
	if s.pendingCopyDB == "" && s.pendingBatch == 0 {
		// The body has ended: the message is judged by the rights the
		// session has now (rt31b F2). An authentication a reload revoked
		// during the body is gone before anything reads it — the trace
		// field's protocol, the origin, the header firewall, the
		// recipients a check adds (checkedRcpts), shadow on receipt and
		// delayed acknowledgement —; the transaction keeps the
		// recipients it has and its reply, and the login's end is
		// named in this transaction's 451 where one follows, else told
		// in the session's first refusal by the rights left
		// (tellLoginLost). A shadow copy is its primary's, as
		// sent, and is judged at the shadow session's next verb. For
		// BDAT this runs at BDAT LAST, after every chunk: what it ends
		// is named in the reply below (ended), as judgeBody's is.
		ended = s.dropEndedAuth()
	}
	id := s.srv.queue.NewID()
	trace := s.receivedHeader(id)
	// With the verb layer the body arrives whole below (takeBody): the
	// buffer is then sized once for it, not grown from 16 KiB (a
	// 100 KiB body made 3 allocations and copies of its size, for GC).
	initial := 16 << 10
	if s.vc != nil {
		initial = 0
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(trace)+initial))
	buf.WriteString(trace)
	if _, err := io.Copy(buf, r); err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			if se == gosmtp.ErrDataTooLarge {
				se = replyDataTooBig // umbra's wording, as the verb layer's
			}
			s.logBodyRefusal(se)
			return se // size limit
		}
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Error reading message data"}
	}
	if s.vc != nil {
		// The verb layer read the body (DATA or BDAT) and applied the
		// size and line length limits.
		fast, ferr, ok := s.vc.takeBody()
		if ferr != nil {
			// With its reply (frontrt35 F2: the over-size and long-line
			// refusals were logged without their codes).
			if ferr == replyDataTooBig {
				s.logBodyRefusal(ferr, "max_message_size", s.vc.sizeLimit())
			} else {
				s.logBodyRefusal(ferr)
			}
			if ferr == replyBodyMemory && s.srv.bodyMem != nil {
				// Counted as the reply the client gets, once the whole
				// body was read: a client that went away mid-body, or a
				// BDAT transaction reset, was answered no 452.
				s.srv.bodyMem.refused.Add(1)
			}
			return ferr
		}
		if ok {
			if buf.Len()+len(fast) > buf.Cap() {
				// append sizes it once and, unlike make, does not
				// clear the bytes it then copies over.
				buf = bytes.NewBuffer(append(buf.Bytes()[:buf.Len():buf.Len()], fast...))
			} else {
				buf.Write(fast)
			}
			s.vc.releaseBody() // copied out: its buffer goes back to the pool (bodyscan.go)
		}
		sp = s.takeSpooled() // read by now (DATA: by the copy above)
	}
	if s.pendingCopyDB == "" && s.pendingBatch == 0 {
		// The body has ended only now: a reload made while it came is
		// judged here, as above for one made before DATA — the
		// authentication it revoked, or that the connector now taking
		// the session's address would not hold, and the servers' rights
		// it took (lowerServer: its connector no longer takes the
		// address) — before the trace field, the origin, the header
		// firewall, shadow on receipt and delayed acknowledgement read
		// them. The trace field is written again without ESMTPA.
		// Every recipient must still have the right a RCPT of it would
		// need now: one a reload took since its RCPT refuses the whole
		// transaction, 451 4.7.1, nothing queued (rightlost.go); the
		// reply names what ended the authentication during this body
		// (for BDAT, while its chunks came: ended, the first drop's),
		// not an earlier one.
		why := s.judgeBody()
		if why != "" {
			if t := s.receivedHeader(id); t != trace {
				buf = bytes.NewBuffer(append([]byte(t), buf.Bytes()[len(trace):]...))
				trace = t
			}
		}
		if why == "" {
			why = ended
		}
		if r := s.rcptRightsLost(why); r != nil {
			return r
		}
	}
	if !s.commit.CompareAndSwap(0, 1) {
		// The server is closing the session and has told (or tells) the
		// client 421: nothing is stored that the client would send again.
		return replyShuttingDown
	}
	if s.pendingBatch > 0 {
		if sp != nil {
			return replyBatchSpooled
		}
		return s.keepBatch(buf.Bytes()[len(trace):])
	}
	if sp != nil {
		return s.dataSpooled(id, trace, sp)
	}
	sent := int64(buf.Len() - len(trace)) // the message as its sender sent it (dot-unstuffed)
	body, m, rerr := s.messageOf(id, trace, buf.Bytes(), s.vc != nil && s.vc.bodyDotted)
	if m == nil {
		return rerr
	}
	if s.replBody != nil {
		// A check replaced the body with one in a spool file: body is
		// the trace field and header section in front of it.
		full := s.replBody.withHead(body)
		noteGrown(m, sent, full.Len()-int64(len(trace)))
		return s.submitStored(m, full, s.replBody)
	}
	noteGrown(m, sent, int64(len(body)-len(trace)))
	if s.pendingCopyDB != "" {
		return s.keepCopy(m, queue.MemBody(body), nil)
	}
	if s.copiesOnReceipt() {
		if m.Quarantine == "" {
			return s.submitWithCopy(m, body)
		}
		// A quarantined message goes nowhere: no copy (queue/quarantine.go);
		// its release marks it held by this server only (queue hold.go).
		m.NoCopy = true
	}
	release, left := noRefusal, func() {}
	if s.delaysAck() {
		release, left = s.holdRefusal(id) // before Submit: the first attempt may end before Submit returns
	}
	if err := s.srv.queue.Submit(s.srv.ctx, m, body); err != nil {
		release()
		if errors.Is(err, queue.ErrQuarantineFull) { // logged by the queue, rate-limited
			return replyQuarantineFull
		}
		s.storeFailed("enqueue failed", err, "msg_id", id.String())
		if noStorage(err) {
			return replyNoStorage // the disk, a quota or a file size limit is full
		}
		return replyLocalError(id)
	}
	s.srv.storage.stored()
	s.srv.obs.Received(s.c.cfg.Name, len(body))
	s.logAccepted(m, len(body))
	return s.acknowledge(id, release, left)
}

// acknowledge is the end of data's reply to a message the queue took:
// the 250 with its queue id, after the delayed acknowledgement's wait
// (awaitConfirmation) where the session has one — or the refusal every
// recipient got while the sender waited (SMTP-7). A sender that closed
// its connection during the wait is told nothing (awaitConfirmation).
func (s *session) acknowledge(id queue.ID, release func() *gosmtp.SMTPError, left func()) error {
	msg := "Ok: queued as " + id.String()
	if s.delaysAck() {
		suffix, gone := s.awaitConfirmation(id, release, left)
		if gone {
			return replyNobodyWaits
		}
		msg += suffix
		if r := release(); r != nil {
			return r // every recipient refused while the sender waited: no bounce (SMTP-7)
		}
	}
	// go-smtp writes an error's code and text as given: this is how the
	// 250 carries the queue id.
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: msg}
}

// replyNobodyWaits is the reply to the end of data of a sender that
// closed its connection while it waited for its acknowledgement: no one
// reads it (the write fails and the session ends at its next read). It
// is no 250: the sender was promised nothing.
var replyNobodyWaits = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "Connection closed by the client before its reply"}

// messageOf runs the end-of-data work on a body in memory (the trace
// field trace in front): line checks, the header size, the receive
// policy, the checks; it returns the message and its stored bytes, or
// (nil, nil, reply) when the transaction ends here — refused, or
// discarded by a check (a 250).
func (s *session) messageOf(id queue.ID, trace string, body []byte, dotted bool) ([]byte, *queue.Message, error) {
	if s.txConn().cfg.BareNewlines == config.BareNewlinesNormalize && bareNewline(body[len(trace):]) != 0 {
		body = normalizeNewlines([]byte(trace), body[len(trace):], dotted)
	}
	eight, err := checkBody(body[len(trace):]) // eight: as received, before any check's edit
	if err != nil {
		s.logBodyRefusal(err)
		return nil, nil, err
	}
	hlen := headerSectionLen(body[len(trace):], s.maxHeaderSize())
	if err := s.checkHeaderSize(body[len(trace) : len(trace)+min(hlen, len(body)-len(trace))]); err != nil {
		return nil, nil, err
	}
	// The header work sees the header section only, as for a spooled
	// body: a body line is never taken for a header field.
	head := body[: len(trace)+hlen : len(trace)+hlen]
	head, perr := s.receivePolicy(head)
	if perr != nil {
		return nil, nil, perr
	}
	head = s.removeForgedResults(head, len(trace)) // before the checks, which add umbra's own
	head = sealHeadSection(head, len(trace))
	body = withHeadSection(body, head, len(trace)+hlen)
	content, rcpts, cerr := s.checkData(id, body[len(trace):])
	if cerr != nil {
		return nil, nil, cerr
	}
	if s.discard || len(rcpts) == 0 {
		s.log.Info("message discarded by a check", "msg_id", id.String(), "size", len(body))
		s.trackDiscard(id, body[len(trace):], len(rcpts) == 0 && !s.discard)
		return nil, nil, &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id.String()}
	}
	if len(content) != len(body)-len(trace) || &content[0] != &body[len(trace)] {
		body = append([]byte(trace), content...)
	}
	body, m := s.message(id, body, len(trace), rcpts, eight)
	return body, m, nil
}

// headerFirewall removes every header umbra trusts (package orgid) from
// the message after the trace header at body[:traceLen], and returns the
// organisation message id to keep: the one the sender gave when it is an
// authenticated transport server of the organisation and the id is well
// formed, else "" (the queue gives a new one). Mail from anyone else can
// thus never name, and so never suppress or merge into, another message
// (SR-14). The stored body holds no such header: delivery writes it from
// the record.
func (s *session) headerFirewall(body []byte, traceLen int) ([]byte, string) {
	content, found := orgid.Strip(body[traceLen:])
	if len(content) != len(body)-traceLen {
		body = append(body[:traceLen:traceLen], content...)
		if !s.trustedServer() {
			s.log.Info("umbra headers removed from a message of an untrusted sender")
		}
	}
	if s.trustedServer() && orgid.Valid(found) {
		return body, found
	}
	return body, ""
}

// trustedServer: the session is an authenticated transport server of
// the organisation, whose umbra headers (package orgid) are kept: it
// logged in with a server account, presented a client certificate of
// the organisation, or came to an externally secured connector from an
// address the topology gives one of its servers. An externally secured
// connector trusts its remote ranges for rights (relay, submit), but an
// organisation id names a message, so with a topology the client must
// also be a server of it — the same binding XSHADOW's server id gets
// (bindServerID). Without a topology the connector's trust is all there
// is, as for XSHADOW (README: externally_secured). A server account or
// certificate naming a server whose addresses the topology lists is
// trusted only from one of them (fromAddressOf), as its XSHADOW is.
func (s *session) trustedServer() bool {
	switch {
	case !s.server:
		return false
	case s.serverAccount:
		return s.anyTransport(s.user) && s.fromAddressOf(s.user)
	case s.vc != nil && len(s.vc.certNames) > 0:
		// Its certificate, also after a plain account's login (which
		// names no server: startShadow binds its XSHADOW by the
		// certificate's names too; on a connector not externally
		// secured such a login left it no transport server above).
		names := s.certNamesNow()
		return len(names) > 0 && s.anyTransport(names...) && s.fromAddressOf(names...)
	}
	return s.trustInForce() && s.addressIsServer() // the trust as the configuration in force has it (authreload.go)
}

// fromAddressOf: the connection may come from one of the transport
// servers names (a server account's, a certificate's) as
// addressedServerID judges it
// for XSHADOW: a server whose addresses the topology lists must connect
// from one of them (a copy of it started with its configuration logs in
// from elsewhere: shadowaddr.go), one whose addresses are not listed
// may connect from anywhere. Without a topology, true.
func (s *session) fromAddressOf(names ...string) bool {
	d := s.srv.servers.Load()
	if d == nil {
		return true
	}
	ad, ok := d.d.(AddressedDirectory)
	if !ok {
		return true
	}
	for _, n := range names {
		if !d.d.Transport(n) {
			continue // no server's word (anyTransport)
		}
		if listed, at := ad.ServerAddressed(n, s.ip); !listed || at {
			return true
		}
	}
	return false
}

// anyTransport: with a topology, one of names (a server account's, a
// client certificate's) is a transport server of it (hub or edge); a
// mailbox or legacy server's (F9), or a name the topology does not know
// (a stale account, a certificate for a decommissioned server: rt11 F8),
// is no transport server's word. Without a topology, true.
func (s *session) anyTransport(names ...string) bool {
	d := s.srv.servers.Load()
	if d == nil {
		return true
	}
	for _, n := range names {
		if known, _ := d.d.ServerAt(n, s.ip); known && d.d.Transport(n) {
			return true
		}
	}
	return false
}

// addressIsServer: the client address is one the topology gives a
// transport server (its Address or Sources; a mailbox or legacy server's
// address is not: F9); true without a topology.
//
// It is asked by every command line (verbConn.exempt), the body's
// deadline and several checks of each message, so the answer is kept
// for the session's address and the directory it came from: the
// topology is walked again only after a reload replaced it.
func (s *session) addressIsServer() bool {
	d := s.srv.servers.Load()
	if d == nil {
		return true
	}
	return s.transportAddr.Load().answer(&s.transportAddr, d, s.ip, ServerDirectory.IsTransportAddress)
}

// addrAnswer is an answer about the session's address and the directory
// it came from.
type addrAnswer struct {
	dir *serverDirectory
	yes bool
}

// answer is a's answer when a came from d, else ask's, kept in p.
func (a *addrAnswer) answer(p *atomic.Pointer[addrAnswer], d *serverDirectory, ip netip.Addr, ask func(ServerDirectory, netip.Addr) bool) bool {
	if a != nil && a.dir == d {
		return a.yes
	}
	a = &addrAnswer{dir: d, yes: ask(d.d, ip)}
	p.Store(a)
	return a.yes
}

// replyQuarantineFull refuses a message with a quarantine verdict while
// the quarantine is full (queue.ErrQuarantineFull): temporary, so a false
// positive is retried later.
var replyQuarantineFull = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Quarantine full, try again later"}

// noStorage reports a write that failed for want of room. bbolt formats
// some errors with %s (growing the file: "file resize error: …"), which
// loses the errno, so its text is looked at too.
func noStorage(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return true
	}
	msg := err.Error()
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG} {
		if strings.Contains(msg, e.Error()) {
			return true
		}
	}
	return false
}

// delaysAck: a sender that did not open a shadow session gets its final
// reply only once the next hops confirmed the message, or after the
// connector's max_acknowledgement_delay (SR-9). Client submission is not
// redundant (SR-12) and is answered at once.
func (s *session) delaysAck() bool {
	return s.srv.shadow != nil && s.shadowServer == "" && s.txConn().cfg.MaxAcknowledgementDelay > 0 && !(s.user != "" && !s.server) &&
		s.quarantine == "" && // a quarantined message leaves only when released: nothing to wait for
		!s.copiesOnReceipt() // shadow on receipt takes precedence (receipt.go)
}

// awaitConfirmation waits for the message to leave the queue. The message
// is durable already; the wait only tells the sender more. It watches
// the client meanwhile (peerClosed, every peerPoll): one that closed its
// connection (end of stream or reset) during the wait reads no reply,
// so the session must not keep its slot for it (README "Connection
// limits"). Then gone is true and the session ends at once, while the
// message's offer of a refusal (release) stands for the rest of the wait
// in the background: the sender got no 250, so a refusal of every
// recipient in that time is no accept-then-bounce and sends no DSN —
// logged as refused after the sender left (left). A message the next
// hop takes is delivered: a sender that sends it again makes SMTP's
// classic duplicate (RFC 1047), as after any reply lost on the way.
func (s *session) awaitConfirmation(id queue.ID, release func() *gosmtp.SMTPError, left func()) (suffix string, gone bool) {
	clk := s.srv.clk
	start := clk.Now()
	done, cancel := s.srv.queue.WaitGone(id)
	t := clk.NewTimer(s.txConn().cfg.MaxAcknowledgementDelay.D()) // the transaction's (reloadtxn.go)
	var peer <-chan time.Time
	conn := s.raw
	if tc, ok := conn.(*trackedConn); ok {
		conn = tc.Conn
	}
	if conn != nil && canPeek(conn) {
		tick := time.NewTicker(peerPoll) // the client's socket, on real time whatever the session clock
		defer tick.Stop()
		peer = tick.C
	}
	for {
		select {
		case <-done:
			cancel()
			t.Stop()
			s.srv.obs.DelayedAck(s.c.cfg.Name, clk.Now().Sub(start), true)
			// Say what happened: a mailbox delivery here has no next hop.
			if d, ok := s.srv.queue.(interface{ Departure(queue.ID) string }); ok {
				switch d.Departure(id) {
				case queue.DepartedDelivered:
					return ", delivered to the mailbox", false
				case queue.DepartedFailed:
					return "", false
				}
			}
			return ", confirmed by the next hop", false
		case <-t.C():
			cancel()
			s.srv.obs.DelayedAck(s.c.cfg.Name, clk.Now().Sub(start), false)
			s.log.Info("acknowledged without confirmation", "msg_id", id.String(), "waited", clk.Now().Sub(start).Round(time.Millisecond))
			return "", false
		case <-s.srv.draining:
			cancel()
			t.Stop()
			return "", false
		case <-peer:
			if !peerClosed(conn) {
				continue
			}
			left()
			s.log.Info("sender left before its reply: connection closed during the acknowledgement wait; no 250 was given",
				"msg_id", id.String(), "waited", clk.Now().Sub(start).Round(time.Millisecond))
			go func() {
				defer cancel()
				defer t.Stop()
				select {
				case <-done:
				case <-t.C():
				case <-s.srv.draining:
				}
				release() // a refusal taken meanwhile: logged, no DSN (holdRefusal)
			}()
			return "", true
		}
	}
}

// checkBody rejects bare LF and bare CR (SMTP smuggling needs them) and
// NUL bytes. eight: b holds a byte above 127, found in the same walk
// over its lines as the bare newlines (crlfLines); content with one is
// 8BITMIME whatever MAIL declared (session.message).
func checkBody(b []byte) (eight bool, err *gosmtp.SMTPError) {
	if bytes.IndexByte(b, 0) >= 0 {
		return false, replyNUL
	}
	if emptyMessage(b) {
		return false, replyEmptyMessage
	}
	only, eight := crlfLines(b)
	if only {
		return eight, nil
	}
	switch bareNewline(b) {
	case '\n':
		return false, replyBareLF
	case '\r':
		return false, replyBareCR
	}
	return queue.Has8bit(b), nil // not reached: crlfLines and bareNewline agree
}

// replyEmptyMessage refuses a message with nothing in it: no header
// field and no body (BDAT 0 LAST, DATA ended at once, only blank lines).
// A message with text but no header section is still taken: scripts send such mail, and refusing it helps no one.
var replyEmptyMessage = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Message is empty: no header section and no body"}

// emptyMessage: b holds nothing but white space and line ends.
func emptyMessage(b []byte) bool {
	return len(bytes.TrimSpace(b)) == 0
}

// headerValue returns the unfolded value of the first header field name
// in a message's header section, trimmed and cut as a Message-ID is kept
// (queue.CutMessageID: 998 octets). The section is read by package
// header, which ends it where the receive side does (at the first line
// that is no field nor continuation), so a body line is never read.
func headerValue(msg []byte, name string) string {
	vs := header.Values(msg, name)
	if len(vs) == 0 {
		return ""
	}
	return queue.CutMessageID(vs[0])
}

// receivedHeader is the RFC 5321 §4.4 trace header, with the RFC 3848
// protocol type (withProtocol).
func (s *session) receivedHeader(id queue.ID) string {
	proto := s.withProtocol()
	helo := traceName(s.conn.Hostname())
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s (umbra) with %s id %s", helo, mailaddr.AddrLiteral(s.ip), s.srv.hostname, proto, id)
	if len(s.rcpt) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", s.rcpt[0].Addr)
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", time.Now().Format(time.RFC1123Z))
	return b.String()
}

// withProtocol is the Received field's "with" (RFC 3848, RFC 6531
// §3.7.3): SMTP when the client's last greeting was HELO (rt26b F2: it
// said ESMTP) — RFC 3848 registers no TLS or authenticated variant of
// plain SMTP, and a HELO client has no SMTPUTF8 (its MAIL takes no
// parameter) —, else ESMTP, or UTF8SMTP for a transaction under
// SMTPUTF8, with S when TLS is on and A when the client authenticated.
// umbra receives no LMTP.
func (s *session) withProtocol() string {
	if s.vc != nil && s.vc.helloOnly {
		return "SMTP"
	}
	proto := "ESMTP"
	if s.opts.UTF8 {
		proto = "UTF8SMTP"
	}
	if s.tlsActive() {
		proto += "S"
	}
	if s.user != "" {
		proto += "A"
	}
	return proto
}

// traceName is the client's HELO name as the Received field's "from"
// clause shows it: the name itself, which the greeting's check
// (helosyntax.go) holds to a domain or an address literal in ASCII (an
// internationalised name as its A-label), so it never makes an ASCII
// message 8-bit nor ends the clause or its comment. Should a session
// ever hold anything else, the field says "unknown": raw client text
// is never written there.
func traceName(helo string) string {
	if !validGreetingName(helo) {
		return "unknown"
	}
	if a, err := netip.ParseAddr(helo); err == nil && a.Is4() {
		// A bare IPv4 greeting (taken for interoperability) is written
		// as the address literal it stands for: "from 1.2.3.4" would
		// read as a domain name (rt17b-F3).
		return mailaddr.AddrLiteral(a)
	}
	if strings.Trim(helo, "0123456789.") == "" {
		return "unknown" // digits that are no IPv4 address (01.2.3.4, 1.2.3): no name either
	}
	return helo
}

// shadowIfAny is the shadow server of the current message: set only
// when its MAIL carried XSHADOW= in a shadow session.
func (s *session) shadowIfAny() string {
	if s.pendingShadowID == "" {
		return ""
	}
	return s.shadowServer
}

func (s *session) Reset() {
	s.commit.CompareAndSwap(1, 0) // the reply to the end of data is written
	s.resetTransaction()
	s.txc, s.txReq = nil, nil
	s.busy.Store(false)
}

// resetTransaction forgets the transaction's sender, recipients and
// checks' state, leaving its busy mark to Reset.
func (s *session) resetTransaction() {
	s.from, s.opts, s.rcpt, s.rcptKeys, s.foreignOrcpt = "", gosmtp.MailOptions{}, nil, nil, ""
	s.rcptLocal, s.loginRcpts, s.rcptRepeats = nil, 0, 0
	s.quarantine, s.discard = s.sessionQuarantine, s.sessionDiscard
	s.discardBy = s.sessionDiscardBy
	s.resetChecks()
}

func (s *session) Logout() error {
	if s.shadowServer != "" && s.vc != nil && s.vc.quitDone() {
		// A shadow session the peer completed (its QUIT answered): a
		// probe, a reconciliation, a push, a relay of that server's own
		// is a contact (rt46 Finding 1). XSHADOW alone is none, nor a
		// dropped connection: it may be noticed long after the peer
		// last spoke.
		s.peerAnswered()
	}
	s.endWatching()
	s.closeChecks()
	s.logDisconnect()
	return nil
}

// message is the queue record of the session's transaction for id: the
// header section head (the trace field's trace bytes in front) passed
// through the header firewall, which names the organisation message id,
// and the origin judged before it. It returns the head as the firewall
// left it.
//
// msg is the whole message, or its header section when the rest follows
// elsewhere (the spool file of a spooled body, a check's replacement
// body). A header section that ended at a line that is not a header field, not at an
// empty line, gets the empty line here (sealHeadSection; a section that
// is the whole message too): otherwise the body's first lines — a forged organisation id or
// Authentication-Results among them, which the firewall leaves alone as
// body — would sit under the real header fields with nothing between,
// and a reader would take them for header fields.
//
// eight says the content as received holds a byte above 127: the
// message is then 8BITMIME whatever MAIL declared (BODY=7BIT, or no
// BODY), decided here once, before the 250 (README, 8-bit mail).
func (s *session) message(id queue.ID, msg []byte, trace int, rcpts []queue.Recipient, eight bool) ([]byte, *queue.Message) {
	// Only the header section is header work's (the in-memory path hands
	// the whole message; a body line is never a header field).
	n := trace + headerSectionLen(msg[trace:], len(msg))
	head := msg[:n:n]
	internal := s.originInside(head[trace:])
	// The organisation's arrival and its delay notice (rt21d M2, M3):
	// believed, as the id, only from a transport server of it that named
	// the message (the firewall kept its id); the queue bounds the time.
	carried, notified := orgid.Carried(head[trace:])
	repeat := orgid.CarriedRepeat(head[trace:])     // a copy that may repeat a lost mailbox write (queue MayRepeat)
	grown := orgid.CarriedGrown(head[trace:])       // what the organisation's earlier servers added (noteGrown adds this one's)
	received := orgid.CarriedReceived(head[trace:]) // the first receipt, where a release moved the clock (queue received.go)
	head, orgID := s.headerFirewall(head, trace)
	if orgID == "" {
		carried, notified, repeat, grown, received = time.Time{}, false, false, 0, time.Time{}
	}
	msgID := headerValue(head[trace:], "Message-ID")
	head = sealHeadSection(head, trace)
	head = withHeadSection(msg, head, n)
	return head, &queue.Message{OrgID: orgID, Internal: internal,
		ShadowServer: s.shadowIfAny(), ShadowID: s.pendingShadowID,
		ID: id, From: s.from, MessageID: msgID, Connector: s.c.cfg.Name, ClientIP: s.ip.String(), Helo: s.conn.Hostname(),
		EnvID: s.opts.EnvelopeID, RetFull: s.opts.Return == gosmtp.DSNReturnFull,
		RetHdrs: s.opts.Return == gosmtp.DSNReturnHeaders, UTF8: s.opts.UTF8,
		EightBit: s.opts.Body == gosmtp.Body8BitMIME || eight, Rcpts: rcpts, Quarantine: s.quarantine,
		RequireTLS: s.opts.RequireTLS, CarriedArrival: carried, DelayNotified: notified, MayRepeat: repeat, Grown: grown,
		CarriedReceived: received,
	}
}

// noteGrown records in m how many bytes the session's own work added to
// the message its sender sent (sent bytes, dot-unstuffed: what the
// receive connector's max_message_size held) to make the content it
// stores (stored bytes, its trace field not included): the empty line
// sealHeadSection puts after a header section that has none, with the
// line break after a last header line sent without one, the CR
// normalizeNewlines puts before each bare LF, umbra's
// Authentication-Results field, a check's edits. Size limits hold the
// message without them (package delivery, limitSize): a message sent at
// exactly a receive connector's limit passes a send connector of the
// same limit. Where the session's work took more away than it added (a
// forged Authentication-Results or umbra header removed), nothing is
// added: the limits hold the smaller of the message as sent and as
// stored. What the organisation's earlier servers added (m.Grown as
// session.message read it from a transport server of the organisation,
// orgid.GrownHeader) counts as umbra's too. It is held to what a
// record holds (queue.MaxGrown), so the queue delivers it as it would
// after a restart: a server of the organisation that said more is not
// believed beyond it.
func noteGrown(m *queue.Message, sent, stored int64) {
	m.Grown, m.GrownKnown = min(m.Grown+max(stored-sent, 0), queue.MaxGrown), true
}

// sealHeadSection puts the empty line after the header section head
// (the trace field's trace bytes in front) when it has none: when the
// section ended at a line that is not a header field, and when it ended
// at the end of the message (a header section alone, no body: the DKIM
// signer, and a next hop, need the empty line as much; README "mail
// umbra received never has one", TestHeaderOnlyMessageGetsEmptyLine).
// A section whose last line lacks its CRLF (a BDAT message's last
// bytes) gets the CRLF first. Every check
// (message authentication's DMARC and DKIM, a milter) then reads the
// header/body boundary umbra stores from the bytes themselves, and none
// can take a body line — a From: below a line that is no field — for a
// header field (rt21b M1), or a leading continuation line for part of
// the header (L1). session.message does the same for the checks' edits.
func sealHeadSection(head []byte, trace int) []byte {
	section := head[trace:]
	if endsWithEmptyLine(section) {
		return head
	}
	head = head[:len(head):len(head)]
	if len(section) > 0 && !bytes.HasSuffix(section, []byte("\r\n")) {
		head = append(head, '\r', '\n')
	}
	return append(head, '\r', '\n')
}

// endsWithEmptyLine reports whether a header section ends with its empty
// line (an empty section is the empty line alone).
func endsWithEmptyLine(section []byte) bool {
	return bytes.Equal(section, []byte("\r\n")) || bytes.HasSuffix(section, []byte("\r\n\r\n"))
}

// holdCommits makes the session store nothing more, after a message
// being stored now got its reply (bounded by wait): the 421 the server
// then writes never stands for a message that was queued. It reports
// whether the session stores nothing more; false: a commit is still
// under way past wait (a stalled disk) and may land — the caller writes
// no 421 then (closeIdle): a reply to the data's end that says nothing
// was kept would be false, and a primary takes a push so answered as one
// that kept nothing, owed no discard (rrreceipt42).
func (s *session) holdCommits(wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for !s.commit.CompareAndSwap(0, 2) && s.commit.Load() != 2 {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// drainCommitWait bounds how long a stop that forces a session closed
// waits for the commit of the message at its end of data (holdCommits).
var drainCommitWait = 10 * time.Second // a var for the tests

// testHookMailDraining runs in a MAIL the drain refuses where the
// drain's own look at the session may come: before the session claims
// its last reply and after (claimed) (tests only).
var testHookMailDraining func(tc *trackedConn, claimed bool)
