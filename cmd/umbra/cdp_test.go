package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A small client of Chromium's DevTools protocol over a WebSocket
// (RFC 6455, client side: masked frames out, any size in), enough to
// drive a headless browser through the console.

// chromiumPath finds a Chromium; without one the browser tests are skipped,
// except in CI (CI set), where its absence is a failure.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is not installed (CI is set: .ci/run installs it)")
	}
	t.Skip("Chromium is not installed; the console's browser test needs it (apt-get install chromium)")
	return ""
}

type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{}
	ws   *wsConn
	id   int
	// inNavigation: an evaluation the page's navigation cuts short
	// ("Inspected target navigated or closed") is no failure — the
	// submit that started it, or the poll that waits for the new page.
	inNavigation bool
}

// startBrowser runs a headless Chromium with a fresh profile and attaches
// to its first page.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromiumPath(t)
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--ignore-certificate-errors", "--window-size=1400,1000", "--remote-debugging-address=127.0.0.1",
		"--remote-debugging-port=0", "--user-data-dir="+profile, "about:blank")
	logf, err := os.Create(filepath.Join(profile, "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers end with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(b.done) }()
	t.Cleanup(func() {
		if b.ws != nil {
			b.ws.c.Close()
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	})
	// Chromium writes its port into the profile once it listens.
	var port string
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if lines := strings.Split(string(data), "\n"); len(lines) >= 2 && lines[0] != "" {
				port = strings.TrimSpace(lines[0])
				break
			}
		}
		select {
		case <-b.done:
			log, _ := os.ReadFile(filepath.Join(profile, "chromium.log"))
			t.Fatalf("chromium exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("chromium did not open its DevTools port in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var targets []struct {
		Type, WebSocketDebuggerURL string
	}
	res, err := http.Get("http://127.0.0.1:" + port + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&targets)
	res.Body.Close()
	for _, tg := range targets {
		if tg.Type == "page" {
			b.ws, err = dialWS(tg.WebSocketDebuggerURL)
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if b.ws == nil {
		t.Fatalf("no page target among %+v", targets)
	}
	b.call("Page.enable", nil)
	b.call("Runtime.enable", nil)
	return b
}

// call sends one command and waits for its answer (events in between are
// passed over).
func (b *browser) call(method string, params any) json.RawMessage {
	b.t.Helper()
	b.id++
	msg, _ := json.Marshal(map[string]any{"id": b.id, "method": method, "params": params})
	if err := b.ws.write(msg); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	for {
		data, err := b.ws.read(60 * time.Second)
		if err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
		var r struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &r) != nil || r.ID != b.id {
			continue // an event
		}
		if r.Error != nil {
			if b.inNavigation && method == "Runtime.evaluate" && strings.Contains(r.Error.Message, "navigated or closed") {
				return nil // the page went on to the next: asked again by loaded
			}
			b.t.Fatalf("%s: %s", method, r.Error.Message)
		}
		return r.Result
	}
}

// eval runs JavaScript in the page and decodes its (JSON-able) value.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	res := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if res == nil {
		return // cut short by a navigation (inNavigation): out left as it was
	}
	json.Unmarshal(res, &r)
	if r.Exception != nil {
		b.t.Fatalf("evaluating %s: %s %s", expr, r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			b.t.Fatalf("evaluating %s: value %s: %v", expr, r.Result.Value, err)
		}
	}
}

// loaded waits until a new document (one without the marker the previous
// one got) has finished loading.
func (b *browser) loaded() {
	b.t.Helper()
	b.inNavigation = true
	defer func() { b.inNavigation = false }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		b.eval(`window.__umbraOld !== true && document.readyState === "complete"`, &ok)
		if ok {
			b.eval(`window.__umbraOld = true`, nil)
			return
		}
		if time.Now().After(deadline) {
			var href string
			b.eval(`location.href`, &href)
			b.t.Fatalf("page did not load (at %s)", href)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// navigate opens a URL and waits for it.
func (b *browser) navigate(u string) {
	b.t.Helper()
	b.eval(`window.__umbraOld = true`, nil)
	b.call("Page.navigate", map[string]any{"url": u})
	b.loaded()
}

// submit runs JavaScript that submits a form or clicks, and waits for the
// page it leads to.
func (b *browser) submit(js string) {
	b.t.Helper()
	b.eval(`window.__umbraOld = true`, nil)
	b.inNavigation = true
	b.eval(js, nil) // the navigation it starts may cut its own evaluation short
	b.inNavigation = false
	b.loaded()
}

// screenshot saves a PNG of the element matched by selector.
func (b *browser) screenshot(selector, path string) {
	b.t.Helper()
	var box struct{ X, Y, W, H float64 }
	b.eval(`(() => { const r = document.querySelector(`+strconv.Quote(selector)+`).getBoundingClientRect();
		return {X: r.x + window.scrollX, Y: r.y + window.scrollY, W: r.width, H: r.height}; })()`, &box)
	res := b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": box.X, "y": box.Y, "width": box.W, "height": box.H, "scale": 1}})
	var r struct {
		Data string `json:"data"`
	}
	json.Unmarshal(res, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		b.t.Fatalf("screenshot: %v (%d bytes)", err, len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// wsConn is a WebSocket client connection.
type wsConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialWS(raw string) (*wsConn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	keyb := make([]byte, 16)
	rand.Read(keyb)
	key := base64.StdEncoding.EncodeToString(keyb)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		u.RequestURI(), u.Host, key)
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		c.Close()
		return nil, fmt.Errorf("websocket handshake: %s", res.Status)
	}
	return &wsConn{c: c, br: br}, nil
}

func (w *wsConn) frame(op byte, payload []byte) error {
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	hdr = append(hdr, mask...)
	out := make([]byte, len(payload))
	for i := range payload {
		out[i] = payload[i] ^ mask[i%4]
	}
	w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := w.c.Write(append(hdr, out...))
	return err
}

func (w *wsConn) write(msg []byte) error { return w.frame(0x1, msg) }

// read returns the next whole text message.
func (w *wsConn) read(timeout time.Duration) ([]byte, error) {
	w.c.SetReadDeadline(time.Now().Add(timeout))
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 256<<20 {
			return nil, errors.New("websocket frame too large")
		}
		var mask [4]byte
		if h[1]&0x80 != 0 {
			if _, err := io.ReadFull(w.br, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return nil, err
		}
		if h[1]&0x80 != 0 {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch op {
		case 0x8:
			return nil, errors.New("websocket closed by the browser")
		case 0x9:
			w.frame(0xA, payload)
			continue
		case 0xA:
			continue
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}
