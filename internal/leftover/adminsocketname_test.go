package leftover

import "testing"

// OPS-1, OPS-5: a start of umbra makes its admin socket afresh at
// admin.sock in its data directory (the default server.admin_socket):
// admin.listenSocket removes whatever file is at that name first (a
// regular file takes no connection, so SocketFree lets it go). A backup
// or export written as OTHER_DATA_DIR/admin.sock is deleted by that
// umbra's next start, as rt33c F1's names are: Started must refuse it.
func TestAdminSocketNameIsRefusedEverywhere(t *testing.T) {
	if Started("admin.sock") == "" {
		t.Errorf(`Started("admin.sock") = ""; a start of umbra removes a file of that name from its data directory`)
	}
}
