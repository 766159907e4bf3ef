package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"umbra/internal/admin"
)

// The console's export never passes a content that stopped short (the
// admin API's export error trailer, a spool file cut while it was read)
// for the message.
func TestConsoleCallRefusesExportCutShort(t *testing.T) {
	s := &Server{cfg: Config{API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", admin.ExportErrorTrailer)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("Subject: x\r\n\r\nthe first part"))
		w.Header().Set(admin.ExportErrorTrailer, "spool file shorter than its record")
	})}}
	body, err := s.call(context.Background(), "GET", "/v1/messages/0000000000000001/eml", nil, "op", nil)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Code != http.StatusConflict || !strings.Contains(ae.Msg, "shorter") || body != nil {
		t.Fatalf("call of a cut export: %v, %q", err, body)
	}
}
