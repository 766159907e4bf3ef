package queue

import (
	"math/rand"
	"testing"
)

// SR-6, SR-7: a taken-over index value cut short decodes without a
// panic, and never to a copy given back that the whole value did not
// give back to that database: the safe side of a value that does not
// read is "never given back". Bytes that do not parse never panic either
// (a byte changed inside a database id reads as another id: no value
// carries a checksum, in this format or the one before).
func TestTakenIndexDamagedValueNeverGivesBack(t *testing.T) {
	whole := takenEntry{copies: map[string]string{
		"0001-aaaaaaaa-000000000001": takenValue("db2", true),
		"0001-aaaaaaaa-000000000002": takenValue("db1", false),
	}}
	decode := func(what string, v []byte) takenEntry {
		t.Helper()
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("%s %q: decode panicked: %v", what, v, p)
			}
		}()
		return decodeTaken(v)
	}
	check := func(what string, v []byte) {
		t.Helper()
		e := decode(what, v)
		for _, sid := range []string{"0001-aaaaaaaa-000000000001", "0001-aaaaaaaa-000000000002", "other"} {
			_, back := parseTaken(e.of(sid))
			if _, want := parseTaken(whole.of(sid)); back != "" && back != want {
				t.Errorf("%s %q: copy %s goes back to %q (whole value: %q)", what, v, sid, back, want)
			}
		}
	}
	enc := whole.encode()
	for n := 0; n <= len(enc); n++ {
		check("cut", enc[:n])
		check("cut, merged by an earlier release", append([]byte{0}, enc[:n]...))
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		v := append([]byte(nil), enc...)
		v[rng.Intn(len(v))] = byte(rng.Intn(256))
		decode("damaged", v)
		r := make([]byte, rng.Intn(24))
		rng.Read(r)
		decode("random", append([]byte{takenCopyMark}, r...))
		decode("random, merged by an earlier release", append([]byte{0, takenCopyMark}, r...))
	}
}
