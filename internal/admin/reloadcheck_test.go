package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// cfgcheck49: POST /v1/config/check hands the file's absolute path to
// the daemon's dry run of a reload and answers its refusals; a path
// that is not absolute is refused before the dry run is asked (the
// daemon's working directory is not the command's), and a daemon
// given no dry run says so: the command then checks the file alone.
func TestReloadCheckAnswersTheDryRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	s, err := Listen(path, &fakeQueue{}, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(path)
	if _, err := c.ReloadCheck("/etc/umbra.yaml"); err == nil {
		t.Fatal("a daemon with no dry run answered the check")
	}
	var asked []string
	s.SetReloadCheck(func(file string) []string {
		asked = append(asked, file)
		if strings.HasSuffix(file, "bad.yaml") {
			return []string{file + ":3: accepted_domains: refused \xe9"}
		}
		return nil
	})
	if got, err := c.ReloadCheck("/etc/good.yaml"); err != nil || len(got) != 0 {
		t.Fatalf("a file the reload takes: %q %v", got, err)
	}
	if got, err := c.ReloadCheck("/etc/bad.yaml"); err != nil || len(got) != 1 || got[0] != "/etc/bad.yaml:3: accepted_domains: refused \xe9" {
		t.Fatalf("a file the reload refuses: %q %v", got, err)
	}
	if _, err := c.ReloadCheck("relative.yaml"); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Fatalf("a relative path: %v; want refused naming the absolute path", err)
	}
	if len(asked) != 2 {
		t.Fatalf("the dry run was asked of %q; want the two absolute paths only", asked)
	}
}
