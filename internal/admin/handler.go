package admin

import "net/http"

// Handler is the API's request handler, for callers in the same process
// that serve it elsewhere (the web console): they get exactly the
// endpoints, checks and errors the socket's clients get.
func (s *Server) Handler() http.Handler { return s.http.Handler }
