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
}

// DefaultQuarantineExpiration is 15 days, the common quarantine default
// (Exchange's and Microsoft 365's spam quarantine).
const DefaultQuarantineExpiration = 15 * 24 * time.Hour

func applyQuarantineDefaults(q *Quarantine) {
	setDur(&q.Expiration, DefaultQuarantineExpiration)
}

func validateQuarantine(v *validator, q Quarantine) {
	if q.Expiration < 0 {
		v.add("transport.quarantine.expiration must be positive", "transport", "quarantine", "expiration")
	}
}
