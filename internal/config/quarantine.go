package config

import "time"

// Quarantine is transport.quarantine: how long mail an edge check kept
// in the quarantine (queue.Message.Quarantine) stays there, and what its
// expiry does. An operator releases or deletes it before (umbra queue
// quarantine); at Expiration it is deleted, silently unless DSNOnExpiry
// (quarantined mail is mostly spam or forged: a DSN to its claimed
// sender would be backscatter).
type Quarantine struct {
	Expiration  Duration `yaml:"expiration"`
	DSNOnExpiry bool     `yaml:"dsn_on_expiry"`
	// MaxSize and MaxMessages bound the quarantine (0: no bound): at or
	// over either, a message with a quarantine verdict is refused with
	// 452 4.3.1 at end of data, so that a flood of quarantined spam
	// cannot fill the transport database (queue/quarcap.go).
	MaxSize     Size `yaml:"max_size"`
	MaxMessages int  `yaml:"max_messages"`
}

// DefaultQuarantineMaxSize is 2 GiB: the most of the transport database
// quarantined spam may take, so that it cannot drive the database
// back-pressure to refuse all mail. Preset (newWithPresets): 0 = no bound.
const DefaultQuarantineMaxSize = 2 << 30

// DefaultQuarantineExpiration is 15 days, the common quarantine default.
const DefaultQuarantineExpiration = 15 * 24 * time.Hour

func applyQuarantineDefaults(q *Quarantine) {
	setDur(&q.Expiration, DefaultQuarantineExpiration)
}

func validateQuarantine(v *validator, q Quarantine) {
	if q.Expiration < 0 {
		v.add("transport.quarantine.expiration must be positive", "transport", "quarantine", "expiration")
	}
	if q.MaxSize < 0 {
		v.add("transport.quarantine.max_size must not be negative (0: no bound)", "transport", "quarantine", "max_size")
	}
	unitFloor(v, "transport.quarantine.max_size", int64(q.MaxSize), MinQuarantineSize, "1MiB", "GiB", "2GiB",
		"every message with a quarantine verdict would be refused (452 4.3.1); 0 is no bound", "transport", "quarantine", "max_size")
	intIn(v, q.MaxMessages, "transport", "quarantine", "max_messages")
}
