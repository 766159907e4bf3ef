package queue

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestIDStringMatchesHex: the hand-written formatting of an id is fmt's
// %016X, which the tracking log, the logs and `umbra queue` have always
// shown.
func TestIDStringMatchesHex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, v := range []uint64{0, 1, 0xF, 0x10, 0xABCDEF, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		if got, want := ID(v).String(), fmt.Sprintf("%016X", v); got != want {
			t.Fatalf("ID(%#x) = %q, want %q", v, got, want)
		}
	}
	for i := 0; i < 10000; i++ {
		v := r.Uint64()
		if got, want := ID(v).String(), fmt.Sprintf("%016X", v); got != want {
			t.Fatalf("ID(%#x) = %q, want %q", v, got, want)
		}
	}
}

// manyRcptMessage is a message of n recipients as delivery leaves it:
// the same queue, next hop and reply on each.
func manyRcptMessage(n int) *Message {
	m := &Message{ID: 42, State: Ready, From: "sender@example.org", Arrived: time.Unix(1700000000, 5), Size: 4096,
		Connector: "loopback", ClientIP: "127.0.0.1", Helo: "client.example", MessageID: "<m@x>", Attempts: 1}
	for i := 0; i < n; i++ {
		m.Rcpts = append(m.Rcpts, Recipient{Addr: strconv.Itoa(i) + "rcpt@remote.example", Status: Relayed,
			Queue: "smtp:remote.example", NextHop: "127.0.0.1:2525", LastReply: "250 2.0.0 Ok: queued as 1234"})
	}
	return m
}

// TestDecodeSharesRepeatedStrings: recipients' equal fields decode to
// equal values (shared or not), and distinct ones stay distinct, for any
// order of repeats, also when more distinct values than the decoder
// remembers come between two equal ones.
func TestDecodeSharesRepeatedStrings(t *testing.T) {
	m := manyRcptMessage(10)
	for i := range m.Rcpts {
		m.Rcpts[i].ORcpt = "rfc822;" + strconv.Itoa(i) + "@orig.example"
		m.Rcpts[i].NextHop = []string{"a", "b", "c", "d", "e", "f", "g", "h"}[i%8]
	}
	m.Rcpts[9].LastReply = "451 4.3.0 other"
	got, err := decodeMessage(m.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n%+v\n%+v", got, m)
	}
}

// BenchmarkDecodeMessage: decoding a 10-recipient record, as the
// scheduler and every result commit do.
func BenchmarkDecodeMessage(b *testing.B) {
	rec := manyRcptMessage(10).encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeMessage(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIDString: an id formatted for a log line or tracking event.
func BenchmarkIDString(b *testing.B) {
	b.ReportAllocs()
	var s string
	for i := 0; b.Loop(); i++ {
		s = ID(uint64(i) * 0x9E3779B97F4A7C15).String()
	}
	_ = s
}
