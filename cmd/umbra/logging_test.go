package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// JSON logs print durations as seconds, not nanoseconds.
func TestJSONLogDurationsInSeconds(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: durationSeconds}))
	log.Info("x", "waited", 1500*time.Millisecond, slog.Group("g", "delay", 2*time.Minute), "n", 3)
	var v struct {
		Waited float64
		G      struct{ Delay float64 }
		N      int
	}
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil || v.Waited != 1.5 || v.G.Delay != 120 || v.N != 3 {
		t.Fatalf("%s → %+v %v", buf.String(), v, err)
	}
}
