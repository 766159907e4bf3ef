package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
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

// The JSON log escapes what a terminal would act on, as the text log
// (strconv quoting) and the admin API do: a sender's bidi override, a
// reply's C1 control.
func TestJSONLogEscapesControls(t *testing.T) {
	var buf bytes.Buffer
	log := newLoggerTo(config.Server{LogFormat: "json", LogLevel: "info"}, &buf)
	log.Info("send", "from", "\u202emoc.knab@ceo.example", "reply", "550 a\u009bb\u200bc")
	out := buf.String()
	for _, r := range []string{"\u202e", "\u009b", "\u200b"} {
		if strings.Contains(out, r) {
			t.Errorf("the JSON log carries %U raw: %q", []rune(r)[0], out)
		}
	}
	var v struct{ From, Reply string }
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil || v.From != "\u202emoc.knab@ceo.example" || v.Reply != "550 a\u009bb\u200bc" {
		t.Errorf("%s → %+v %v", out, v, err)
	}
}

// The JSON log shows a byte that is not UTF-8 as \xNN and doubles a
// backslash run before what reads as such an escape, as the tracking log
// and the admin answers do: a raw 0xE9 and the text \xe9 a sender wrote
// stay apart (encoding/json wrote both as U+FFFD or as the text alike).
func TestJSONLogKeepsBytesApart(t *testing.T) {
	var buf bytes.Buffer
	log := newLoggerTo(config.Server{LogFormat: "json", LogLevel: "info"}, &buf)
	log.Info("receive", "helo", "a\xe9", "id", `a\xe9`, slog.Group("g", "from", "b\xff"), "err", errors.New("550 c\xe9"))
	var v struct {
		Helo, ID, Err string
		G             struct{ From string }
	}
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatalf("%s: %v", buf.String(), err)
	}
	if v.Helo != `a\xe9` || v.ID != `a\\xe9` || v.G.From != `b\xff` || v.Err != `550 c\xe9` {
		t.Fatalf("%s → %+v", buf.String(), v)
	}
}
