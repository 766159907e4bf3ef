package main

import (
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// The queue's restore and compaction default to the configuration's
// spool threshold (the queue does not import the configuration).
func TestSpoolThresholdDefaultsAgree(t *testing.T) {
	if queue.DefaultSpoolThreshold != config.DefaultSpoolThreshold {
		t.Fatalf("queue.DefaultSpoolThreshold %d, config.DefaultSpoolThreshold %d", queue.DefaultSpoolThreshold, config.DefaultSpoolThreshold)
	}
}
