package queue

import (
	"os"
	"path/filepath"
	"testing"
)

// OPS-43 item 5: transport.space_reserve: 0 (a setting of its own since
// b48451e6, config TestSpaceReserveZeroTurnsItOff) reaches the store as
// size 0: no reserve is made, a reserve file an earlier start left is
// removed, and the reserve reads as none (held false, size 0: the
// umbra_space_reserve_bytes gauge 0).
func TestOPS43SpaceReserveZeroIsOff(t *testing.T) {
	s := openTest(t)
	path := filepath.Join(filepath.Dir(s.db.Path()), SpaceReserveName)
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil { // an earlier start's
		t.Fatal(err)
	}
	s.StartSpaceReserve(0, nil)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the reserve file an earlier start left: %v, want it removed", err)
	}
	if held, size := s.SpaceReserveHeld(); held || size != 0 {
		t.Errorf("reserve held %v, size %d; want none", held, size)
	}
	s.RestoreSpaceReserve() // the back pressure's check: makes nothing
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after a restore: %v, want no reserve file", err)
	}
}
