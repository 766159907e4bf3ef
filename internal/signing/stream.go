package signing

import (
	"crypto/sha256"
	"encoding"
	"fmt"
	"hash"
	"io"
)

// Signing a message that is not in memory (a spooled body) takes two
// passes over it: SignOriginStream reads it once to hash it (the relaxed
// body hash, in bounded memory, that the DKIM signature and the ARC set
// name, and the cache key), and
// returns the fields to put in front; the caller's second pass sends
// the fields and then the message. The fields are those SignOrigin
// makes for the same bytes.

// SignOriginStream is SignOrigin for a message read from content, whose
// header section (through its empty line) is header. It returns the
// fields to send in front of the message; an error means none.
func (s *Signer) SignOriginStream(header []byte, content io.Reader, envelopeFrom string, internal bool) ([]byte, Result, error) {
	if s == nil {
		return nil, Result{}, nil
	}
	fields, bodyAt, ok := splitHeader(header)
	if !ok || bodyAt != len(header) {
		return nil, Result{}, errUnframed
	}
	ck := sha256.New()
	ck.Write([]byte(envelopeFrom))
	ck.Write([]byte{0})
	if internal {
		ck.Write([]byte{1})
	} else {
		ck.Write([]byte{0})
	}
	sinks := []io.Writer{ck}
	k, signDKIM := s.keyFor(fields, envelopeFrom)
	signDKIM = signDKIM && internal
	var bh *relaxedBodyHasher // one body hash serves the DKIM signature and the ARC set
	if signDKIM || s.arc != nil {
		bh = newRelaxedBodyHasher()
		sinks = append(sinks, &skipWriter{skip: int64(len(header)), w: bh})
	}
	if _, err := io.Copy(io.MultiWriter(sinks...), content); err != nil {
		return nil, Result{}, fmt.Errorf("reading the message: %w", err)
	}
	var key [32]byte
	ck.Sum(key[:0])
	if prefix, res, ok := s.cache.get(key); ok {
		return []byte(prefix), res, nil
	}
	var res Result
	var prefix []byte
	var bodyHash []byte
	if bh != nil {
		bodyHash = bh.Sum()
	}
	if signDKIM {
		sig, err := s.dkimSignatureHashed(k, fields, bodyHash)
		if err != nil {
			return nil, Result{}, fmt.Errorf("dkim %s: %w", k.Domain, err)
		}
		prefix = append(prefix, sig...)
		res.DKIM = k.Domain
		fields = append([]field{{Name: "DKIM-Signature", Raw: sig}}, fields...)
	}
	if s.arc != nil {
		set, inst, why, err := s.sealHashed(fields, nil, bodyHash)
		if err != nil {
			return nil, Result{}, fmt.Errorf("arc: %w", err)
		}
		res.NoARC = why
		if set != "" {
			prefix = append([]byte(set), prefix...)
			res.ARC = inst
		}
	}
	s.cache.put(key, string(prefix), res)
	return prefix, res, nil
}

// skipWriter passes on what comes after its first skip bytes.
type skipWriter struct {
	skip int64
	w    io.Writer
}

func (s *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.skip >= int64(n) {
		s.skip -= int64(n)
		return n, nil
	}
	p = p[s.skip:]
	s.skip = 0
	_, err := s.w.Write(p)
	return n, err
}

// relaxedBodyHasher is relaxedBodyHash fed in pieces, in bounded
// memory: line breaks not yet followed by content (which the relaxed
// form drops at the body's end) are held up to maxPendingBreaks bytes;
// past that they go into spec, a copy of the hash as if they were kept,
// which replaces the hash when content follows and is dropped at the end.
type relaxedBodyHasher struct {
	h, spec              hash.Hash
	out, crlf            []byte
	wsp, written, prevCR bool
}

const maxPendingBreaks = 4096

// pend holds a line break byte.
func (r *relaxedBodyHasher) pend(c byte) {
	r.crlf = append(r.crlf, c)
	if len(r.crlf) < maxPendingBreaks {
		return
	}
	if r.spec == nil {
		r.h.Write(r.out)
		r.out = r.out[:0]
		state, err := r.h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(err) // crypto/sha256 digests marshal
		}
		r.spec = sha256.New()
		if err := r.spec.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			panic(err)
		}
	}
	r.spec.Write(r.crlf)
	r.crlf = r.crlf[:0]
}

func newRelaxedBodyHasher() *relaxedBodyHasher {
	return &relaxedBodyHasher{h: sha256.New(), out: make([]byte, 0, 4096)}
}

func (r *relaxedBodyHasher) emit(c byte) {
	r.out = append(r.out, c)
	if len(r.out) == cap(r.out) {
		r.h.Write(r.out)
		r.out = r.out[:0]
	}
}

func (r *relaxedBodyHasher) Write(p []byte) (int, error) {
	for _, ch := range p {
		if ch == '\n' && !r.prevCR {
			r.pend('\r') // a bare LF is a line break
		}
		r.prevCR = ch == '\r'
		switch ch {
		case ' ', '\t':
			r.wsp = true
		case '\r', '\n':
			r.wsp = false
			r.pend(ch)
		default:
			if r.spec != nil { // the held breaks are kept: the copy is the hash
				r.spec.Write(r.crlf)
				r.h, r.spec = r.spec, nil
			} else {
				for _, c := range r.crlf {
					r.emit(c)
				}
			}
			r.crlf = r.crlf[:0]
			if r.wsp {
				r.emit(' ')
				r.wsp = false
			}
			r.emit(ch)
			r.written = true
		}
	}
	return len(p), nil
}

// Sum ends the body and returns its hash.
func (r *relaxedBodyHasher) Sum() []byte {
	r.h.Write(r.out)
	r.out = r.out[:0]
	if r.written {
		r.h.Write([]byte("\r\n"))
	}
	return r.h.Sum(nil)
}
