package pickup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"umbra/internal/queue"
)

// Queue is what the watcher needs of the queue manager.
type Queue interface {
	NewID() queue.ID
	Submit(ctx context.Context, m *queue.Message, body []byte) error
	WaitHandedOn(id queue.ID) <-chan struct{}
}

// Config configures a Watcher.
type Config struct {
	Dir      string
	Interval time.Duration
	MaxSize  int64
	Hostname string
	Queue    Queue
	Log      *slog.Logger
}

// Watcher scans the pickup directory.
type Watcher struct {
	cfg  Config
	mu   sync.Mutex
	busy map[string]bool // files being handled
	wg   sync.WaitGroup
}

// New returns a watcher; Run drives it.
func New(cfg Config) *Watcher {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	return &Watcher{cfg: cfg, busy: map[string]bool{}}
}

// Run scans until ctx ends, then waits for its goroutines.
func (w *Watcher) Run(ctx context.Context) {
	defer w.wg.Wait()
	w.reattach(ctx)
	for {
		w.Scan(ctx)
		t := time.NewTimer(w.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// reattach waits again for the messages of files marked .queued before a
// restart.
func (w *Watcher) reattach(ctx context.Context) {
	files, _ := filepath.Glob(filepath.Join(w.cfg.Dir, "*.queued"))
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".queued")
		i := strings.LastIndexByte(base, '.')
		if i < 0 {
			continue
		}
		id, err := queue.ParseID(base[i+1:])
		if err != nil {
			continue
		}
		w.await(ctx, id, f)
	}
}

// Scan handles every new *.eml file once.
func (w *Watcher) Scan(ctx context.Context) {
	files, err := filepath.Glob(filepath.Join(w.cfg.Dir, "*.eml"))
	if err != nil {
		w.cfg.Log.Error("scanning the pickup directory failed", "dir", w.cfg.Dir, "err", err)
		return
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), ".") || ctx.Err() != nil {
			continue
		}
		w.mu.Lock()
		busy := w.busy[f]
		w.mu.Unlock()
		if !busy {
			w.handle(ctx, f)
		}
	}
}

func (w *Watcher) handle(ctx context.Context, path string) {
	data, err := readLimited(path, w.cfg.MaxSize)
	if err == nil {
		var env Envelope
		var body []byte
		if env, body, err = Parse(data); err == nil {
			err = w.submit(ctx, path, env, body)
			if err != nil {
				w.cfg.Log.Error("pickup file not submitted; trying again later", "file", filepath.Base(path), "err", err)
				return
			}
			return
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	w.cfg.Log.Warn("pickup file refused", "file", filepath.Base(path), "err", err)
	os.Rename(path, strings.TrimSuffix(path, ".eml")+".bad")
}

func (w *Watcher) submit(ctx context.Context, path string, env Envelope, body []byte) error {
	id := w.cfg.Queue.NewID()
	trace := fmt.Sprintf("Received: from pickup directory\r\n\tby %s (umbra) with local id %s;\r\n\t%s\r\n",
		w.cfg.Hostname, id, time.Now().Format(time.RFC1123Z))
	m := &queue.Message{ID: id, From: env.From, Connector: "pickup", Helo: filepath.Base(path)}
	for _, r := range env.Rcpts {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: r})
	}
	if err := w.cfg.Queue.Submit(ctx, m, append([]byte(trace), body...)); err != nil {
		return err
	}
	queued := strings.TrimSuffix(path, ".eml") + "." + id.String() + ".queued"
	if err := os.Rename(path, queued); err != nil {
		// The message is durable: do not submit the file again.
		w.cfg.Log.Error("marking a submitted pickup file failed; it may be submitted twice", "file", path, "err", err)
		queued = path
	}
	w.cfg.Log.Info("pickup file submitted", "file", filepath.Base(path), "msg_id", id.String(), "rcpts", len(m.Rcpts))
	w.await(ctx, id, queued)
	return nil
}

// await deletes the file once ownership of its message has passed on.
func (w *Watcher) await(ctx context.Context, id queue.ID, path string) {
	w.mu.Lock()
	w.busy[path] = true
	w.mu.Unlock()
	handed := w.cfg.Queue.WaitHandedOn(id)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		select {
		case <-handed:
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				w.cfg.Log.Error("removing a handed-on pickup file failed", "file", path, "err", err)
			}
		case <-ctx.Done():
		}
		w.mu.Lock()
		delete(w.busy, path)
		w.mu.Unlock()
	}()
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if max <= 0 {
		max = 36 << 20
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}
