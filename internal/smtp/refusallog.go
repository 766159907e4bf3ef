package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
)

// refusalLog writes the log lines of refusals (refused connections,
// relay attempts, AUTH failures, rejected messages) so that a flood
// cannot fill the disk: each reason and source (IPv6: its /64) has a
// token bucket of burst lines refilled at burst per interval. Lines over
// it are counted; the next line written for that key carries
// suppressed=N, and a key that stays quiet gets a "log lines suppressed"
// summary at the next sweep (or at shutdown), written with the server's
// logger (not the session's that triggered the sweep) and naming the
// source under client_ip, as every refusal line does. At most maxLogKeys
// keys are kept; beyond, sources share one bucket per reason.
type refusalLog struct {
	clk      clock.Clock
	base     *slog.Logger // the summaries' logger: no session's attributes
	burst    float64
	interval time.Duration

	mu        sync.Mutex
	keys      map[refusalKey]*logBucket
	lastSweep time.Time
}

type refusalKey struct{ reason, source string }

type logBucket struct {
	tokens     float64
	last       time.Time
	suppressed int
}

const maxLogKeys = 4096

func newRefusalLog(clk clock.Clock, base *slog.Logger, burst int, interval time.Duration) *refusalLog {
	if burst <= 0 {
		burst = 1
	}
	if interval <= 0 {
		interval = time.Minute
	}
	return &refusalLog{clk: clk, base: base, burst: float64(burst), interval: interval, keys: map[refusalKey]*logBucket{}, lastSweep: clk.Now()}
}

// log writes msg at info level with the reason and the codes of reply
// (replyAttrs; nil: the refusal answered nothing), unless the bucket of
// reason and ip is empty. l must carry the client's address (a session's
// logger does). Callers must never pass credentials.
func (r *refusalLog) log(l *slog.Logger, msg, reason string, reply *gosmtp.SMTPError, ip netip.Addr, attrs ...any) {
	now := r.clk.Now()
	key := refusalKey{reason, sourceKey(ip)}
	r.mu.Lock()
	defer func() {
		if now.Sub(r.lastSweep) >= r.interval {
			r.sweepLocked(now, false)
		}
		r.mu.Unlock()
	}()
	b := r.keys[key]
	if b == nil {
		if len(r.keys) >= maxLogKeys {
			key.source = "*"
			b = r.keys[key]
		}
		if b == nil {
			b = &logBucket{tokens: r.burst, last: now}
			r.keys[key] = b
		}
	}
	b.tokens = min(r.burst, b.tokens+now.Sub(b.last).Seconds()*r.burst/r.interval.Seconds())
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return
	}
	b.tokens--
	if b.suppressed > 0 {
		attrs = append(attrs, "suppressed", b.suppressed)
		b.suppressed = 0
	}
	l.Info(msg, append(append([]any{"reason", reason}, replyAttrs(reply)...), attrs...)...)
}

// replyAttrs are the log attributes of the reply a refusal gave: its
// code and, when it has one, its enhanced code (code=554
// enhanced_code=5.7.1), as the client reads them; none for a refusal
// that answered nothing (a check's added recipient dropped).
func replyAttrs(r *gosmtp.SMTPError) []any {
	if r == nil {
		return nil
	}
	out := []any{"code", r.Code}
	if enh, ok := enhancedOf(r); ok {
		out = append(out, "enhanced_code", fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2]))
	}
	return out
}

// enhancedOf is the enhanced code the client reads in r: the class
// alone (X.0.0) when r has none set, as replyLines writes it; none
// (false) for a reply written without one.
func enhancedOf(r *gosmtp.SMTPError) (gosmtp.EnhancedCode, bool) {
	enh := r.EnhancedCode
	if enh == gosmtp.EnhancedCodeNotSet {
		enh = gosmtp.EnhancedCode{r.Code / 100, 0, 0}
	}
	return enh, enh != gosmtp.NoEnhancedCode
}

// codesOf is the code and enhanced code of r as the client reads them
// ("554 5.7.1").
func codesOf(r *gosmtp.SMTPError) string {
	if r == nil {
		return ""
	}
	if enh, ok := enhancedOf(r); ok {
		return fmt.Sprintf("%d %d.%d.%d", r.Code, enh[0], enh[1], enh[2])
	}
	return strconv.Itoa(r.Code)
}

// fixedReply is the reply a fixed line written as it stands gives
// ("550 5.7.1 Not permitted ..."), for refusals that answer with such
// a line rather than a reply value: its code, and its enhanced code when
// its second word reads as one (RFC 3463: class, subject, detail).
func fixedReply(line string) *gosmtp.SMTPError {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	code, err := strconv.Atoi(strings.TrimRight(f[0], "-"))
	if err != nil {
		return nil
	}
	r := &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.NoEnhancedCode}
	if len(f) > 1 {
		if p := strings.Split(f[1], "."); len(p) == 3 {
			var enh gosmtp.EnhancedCode
			ok := true
			for i, n := range p {
				v, err := strconv.Atoi(n)
				ok = ok && err == nil && n != ""
				enh[i] = v
			}
			if ok {
				r.EnhancedCode = enh
			}
		}
	}
	return r
}

// flush writes the summaries of every key with suppressed lines.
func (r *refusalLog) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(r.clk.Now(), true)
}

// sweepLocked reports the suppressed lines of keys quiet for an interval
// (every key if all) and forgets keys whose bucket is full again.
func (r *refusalLog) sweepLocked(now time.Time, all bool) {
	r.lastSweep = now
	for k, b := range r.keys {
		quiet := now.Sub(b.last) >= r.interval
		if b.suppressed > 0 && (quiet || all) {
			who := slog.String("client_ip", k.source) // an address, or an IPv6 /64
			if k.source == "*" {
				who = slog.String("sources", "others") // the shared bucket past maxLogKeys
			}
			r.base.LogAttrs(context.Background(), slog.LevelInfo, "log lines suppressed",
				who, slog.String("reason", k.reason), slog.Int("suppressed", b.suppressed))
			b.suppressed = 0
		}
		if quiet && b.suppressed == 0 {
			delete(r.keys, k)
		}
	}
}

// bodyRefusalReason is the reason label of the refusal log for a reply
// refusing a message for its size, its form or for want of room to
// take it (README's table of reasons), each label for one kind of reply.
// A reply none names keeps its text (not reached: every refusal of a
// body is one of these).
func bodyRefusalReason(r *gosmtp.SMTPError) string {
	switch r {
	case replyDataTooBig:
		return "message_too_large"
	case replyDataLineTooLong:
		return "line_too_long"
	case replyBareCR:
		return "bare_cr"
	case replyBareLF:
		return "bare_lf"
	case replyNUL:
		return "nul_byte"
	case replyEmptyMessage:
		return "empty_message"
	case replyHeaderTooBig:
		return "header_too_large"
	case replyBodyMemory:
		return "insufficient_memory"
	case replyNoStorage:
		return "insufficient_storage"
	case replyLocalSpool:
		return "local_error"
	}
	return r.Message
}

// logBodyRefusal logs the refusal of the transaction's message by reply
// r (DATA's end of data, BDAT LAST or a BDAT chunk) through the refusal
// log, with r's codes.
func (s *session) logBodyRefusal(r *gosmtp.SMTPError, attrs ...any) {
	s.srv.refusals.log(s.log, "message rejected", bodyRefusalReason(r), r, s.ip, attrs...)
}
