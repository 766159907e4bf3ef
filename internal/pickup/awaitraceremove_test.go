package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"umbra/internal/queue"
)

// SR-12: the end of the wait for an unmarked NAME.eml must never remove
// a new drop renamed in at its name, however close to the end: one
// read, compared, then removed by name lost the drop renamed in between
// the read and the removal. The application here renames its next drop
// in as soon as the wait's read closes the file (inotify
// IN_CLOSE_NOWRITE); over many rounds some land in that window.
func TestSR12NewDropAtTheEndOfTheWaitIsNeverRemoved(t *testing.T) {
	rounds, lost := 300, 0
	for r := 0; r < rounds; r++ {
		dir := t.TempDir()
		q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
		w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
		w.rename = func(string, string) error { return errors.New("no space left on device") }
		ctx, cancel := context.WithCancel(context.Background())
		dropFile(t, dir, "app.eml", "X-Receiver: a@example.net\nSubject: one\n\nfirst\n")
		path := filepath.Join(dir, "app.eml")
		w.Scan(ctx)
		tmp := filepath.Join(dir, ".next.tmp")
		if err := os.WriteFile(tmp, []byte("X-Receiver: b@example.net\nSubject: two\n\nsecond\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if err != nil {
			t.Skip(err)
		}
		if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_NOWRITE); err != nil {
			t.Fatal(err)
		}
		renamed := make(chan bool, 1)
		go func() {
			runtime.LockOSThread()
			buf := make([]byte, 4096)
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				renamed <- false
				return
			}
			renamed <- unix.Rename(tmp, path) == nil // the application's next drop
		}()
		q.mu.Lock()
		close(q.handed[1])
		q.mu.Unlock()
		did := <-renamed
		unix.Close(fd)
		cancel()
		w.wg.Wait()
		if !did {
			continue
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			lost++
		}
		time.Sleep(time.Millisecond)
	}
	if lost > 0 {
		t.Fatalf("the next drop renamed in after the wait's read was removed unsent in %d of %d rounds", lost, rounds)
	}
}
