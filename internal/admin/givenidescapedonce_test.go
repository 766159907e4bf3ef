package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// OPS-3: a given id that is no message id is refused
// (400) with queue.ParseID's refusal, in the text form already
// (jsonsafe.Textf, QuoteShown): answered as it is, its value escaped
// once — as parseID and dumpster remove's id answer it (failShown) —
// never \\x01, the text of its escape, for the byte 0x01.
func TestOPS3GivenIDRefusalEscapedOnce(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/messages/bulk?given=true", strings.NewReader("ab\x01cd\n"))
	rec := httptest.NewRecorder()
	_, err := readGivenIDs(rec, r)
	if err == nil {
		t.Fatal("a line that is no message id was taken")
	}
	failErr(rec, http.StatusBadRequest, err)
	var body struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%v: %s", err, rec.Body.Bytes())
	}
	if !strings.Contains(body.Error, `"ab\x01cd"`) || strings.Contains(body.Error, `\\x01`) {
		t.Errorf("the refusal names the id escaped twice, or not once: %q (want \"ab\\x01cd\" as parseID writes it)", body.Error)
	}
}
