package queue

// MaxMessageIDLen is how much of a message's Message-ID umbra keeps
// (Message.MessageID, the tracking log, the dumpster): RFC 5322's line
// limit, 998 octets. Mail may carry a longer one (a field folded over
// lines); a search compares as much of the id it is given (CutMessageID),
// so that the whole id, as the operator has it from the message, finds
// it.
const MaxMessageIDLen = 998

// CutMessageID is v as umbra keeps a Message-ID: at most
// MaxMessageIDLen octets.
func CutMessageID(v string) string {
	if len(v) > MaxMessageIDLen {
		return v[:MaxMessageIDLen]
	}
	return v
}
