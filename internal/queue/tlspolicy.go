package queue

import (
	"bytes"
	"context"
	"errors"
)

// maxTLSValue bounds one stored TLS policy or report value.
const maxTLSValue = 256 << 10

// GetTLSPolicy returns the cached MTA-STS policy of domain (tlspolicy
// bucket), if any.
func (s *Store) GetTLSPolicy(domain string) (v []byte, ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		if b := tx.tx.Bucket(bucketTLSPolicy).Get([]byte(domain)); b != nil {
			v, ok = bytes.Clone(b), true
		}
		return nil
	})
	return v, ok, err
}

// PutTLSPolicy caches domain's policy; durable when it returns.
func (s *Store) PutTLSPolicy(ctx context.Context, domain string, v []byte) error {
	if len(v) > maxTLSValue {
		return errTooLarge
	}
	k, val := []byte(domain), bytes.Clone(v)
	return s.Update(ctx, func(tx *Tx) error { return tx.tx.Bucket(bucketTLSPolicy).Put(k, val) })
}

// TLSPolicyDomains lists the domains with a cached policy.
func (s *Store) TLSPolicyDomains() ([]string, error) {
	var out []string
	err := s.View(func(tx *Tx) error {
		return tx.tx.Bucket(bucketTLSPolicy).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// TLSReport is one stored TLS-RPT counter record: a day and a policy
// domain (tlsrpt bucket).
type TLSReport struct {
	Day, Domain string
	Value       []byte
}

// UpdateTLSReport replaces the record of (day, domain) with what fn makes
// of the stored one (nil when none), in one commit.
func (s *Store) UpdateTLSReport(ctx context.Context, day, domain string, fn func(old []byte) []byte) error {
	k := append(append([]byte(day), 0), domain...)
	return s.Update(ctx, func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTLSRPT)
		nv := fn(bytes.Clone(b.Get(k)))
		if len(nv) > maxTLSValue {
			return errTooLarge
		}
		return b.Put(k, nv)
	})
}

// TLSReports lists the stored counter records of days before day ("":
// all), oldest first.
func (s *Store) TLSReports(before string) ([]TLSReport, error) {
	var out []TLSReport
	err := s.View(func(tx *Tx) error {
		return tx.tx.Bucket(bucketTLSRPT).ForEach(func(k, v []byte) error {
			day, dom, ok := bytes.Cut(k, []byte{0})
			if !ok || before != "" && string(day) >= before {
				return nil
			}
			out = append(out, TLSReport{Day: string(day), Domain: string(dom), Value: bytes.Clone(v)})
			return nil
		})
	})
	return out, err
}

// DeleteTLSReport forgets a day's record once its report went out.
func (s *Store) DeleteTLSReport(ctx context.Context, day, domain string) error {
	k := append(append([]byte(day), 0), domain...)
	return s.Update(ctx, func(tx *Tx) error { return tx.tx.Bucket(bucketTLSRPT).Delete(k) })
}

var errTooLarge = errors.New("tls policy record too large")
