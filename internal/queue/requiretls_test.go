package queue

import "testing"

// The REQUIRETLS flag survives the record format, and a record written
// before the flag existed reads as without it (schema-compatible: a bit
// of the flags field older releases ignore).
func TestRecordCarriesRequireTLS(t *testing.T) {
	m := &Message{ID: 7, State: Ready, From: "a@example.org", RequireTLS: true, EightBit: true,
		Rcpts: []Recipient{{Addr: "b@example.net"}}}
	got, err := decodeMessage(m.encode())
	if err != nil || !got.RequireTLS || !got.EightBit || got.ManualRetry {
		t.Fatalf("%+v %v", got, err)
	}
	m.RequireTLS = false
	if got, _ := decodeMessage(m.encode()); got.RequireTLS {
		t.Fatal("flag set from nowhere")
	}
}
