package console

import (
	"net/http/cookiejar"
	"os"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// OPS-5: Reread (the SIGHUP goroutine) against logins
// and page requests while the file changes, under -race.
func TestOPS5RereadRacesRequests(t *testing.T) {
	h := newHarness(t)
	old, _ := os.ReadFile(h.credFile)
	hash, _ := bcrypt.GenerateFromPassword([]byte("other-pass"), bcrypt.MinCost)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				os.WriteFile(h.credFile, append(old, []byte("ops2:"+string(hash)+"\n")...), 0o600)
			} else {
				os.WriteFile(h.credFile, old, 0o600)
			}
			h.s.Reread()
		}
	}()
	for range 20 {
		h.client.Jar, _ = cookiejar.New(nil)
		h.login("ops", "s3cret-pass")
		h.do("GET", "/", nil, nil)
	}
	close(stop)
	wg.Wait()
}
