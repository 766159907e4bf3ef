package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"umbra/internal/admin"
)

// apiResponse collects what the admin API's handler writes.
type apiResponse struct {
	code   int
	header http.Header
	body   bytes.Buffer
}

func (a *apiResponse) Header() http.Header         { return a.header }
func (a *apiResponse) Write(b []byte) (int, error) { return a.body.Write(b) }
func (a *apiResponse) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
}

// apiError is the admin API's refusal, with its status.
type apiError struct {
	Code int
	Msg  string
}

func (e *apiError) Error() string { return e.Msg }

// call asks the admin API in-process: method, path and query as the CLI
// would send them over the socket. A JSON answer is decoded into out (when
// not nil); an error answer becomes an *apiError.
func (s *Server) call(ctx context.Context, method, path string, query url.Values, user string, out any) ([]byte, error) {
	_, b, err := s.callHeader(ctx, method, path, query, user, out)
	return b, err
}

// callHeader is call, with the answer's header (admin.StoppingHeader:
// what an action made due goes at the daemon's next start).
func (s *Server) callHeader(ctx context.Context, method, path string, query url.Values, user string, out any) (http.Header, []byte, error) {
	// path is escaped already (each name in it by url.PathEscape): it is
	// the URL's path as written, not escaped again (a "%" in a queue name
	// would reach the API as "%25").
	p, err := url.PathUnescape(path)
	if err != nil {
		return nil, nil, err
	}
	u := &url.URL{Path: p, RawPath: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.RemoteAddr = "console"
	if user != "" {
		req.Header.Set("X-Umbra-Operator", "console:"+user)
	}
	res := &apiResponse{header: http.Header{}}
	s.cfg.API.ServeHTTP(res, req)
	if res.code == 0 {
		res.code = http.StatusOK
	}
	if res.code >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(res.body.Bytes(), &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("admin API answered %d", res.code)
		}
		return res.header, nil, &apiError{Code: res.code, Msg: e.Error}
	}
	if why := res.header.Get(admin.ExportErrorTrailer); why != "" {
		// A message's content that stopped short (its spool file cut
		// while it was read): never passed on as the message.
		return res.header, nil, &apiError{Code: http.StatusConflict, Msg: why}
	}
	if out != nil {
		if err := json.Unmarshal(res.body.Bytes(), out); err != nil {
			return res.header, nil, fmt.Errorf("admin API answer: %w", err)
		}
	}
	return res.header, res.body.Bytes(), nil
}
