package main

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SMTP-4 (auth to smart host): credentials leave umbra only through
// smtp.Client.Login (and its Auth, which replaces go-smtp's): AUTH only
// where the EHLO reply offered it, never without TLS, "*" only in
// answer to a 334 (internal/smtp/clientauth.go). go-smtp's own
// Client.Auth stays reachable through the embedded *gosmtp.Client
// (c.Client.Auth) or any *gosmtp.Client value; no package of umbra may
// call it or take it as a method value. The check is by type, not by
// spelling: every selector of the project's code (tests aside) that
// resolves to (*go-smtp.Client).Auth fails the test, and so does a use
// of go-smtp's SendMail or SendMailTLS, which log in by it.
func TestSMTP4NoGoSMTPClientAuth(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-export", "-f", `{{.ImportPath}}|{{.Export}}|{{.Dir}}|{{join .GoFiles ","}}|{{.Module}}`, "umbra/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	export := map[string]string{}
	type pkg struct{ path, dir string }
	var own []pkg
	files := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("go list: %q", line)
		}
		export[f[0]] = f[1]
		if f[0] == "umbra" || strings.HasPrefix(f[0], "umbra/") {
			own = append(own, pkg{f[0], f[2]})
			if f[3] != "" {
				files[f[0]] = strings.Split(f[3], ",")
			}
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := export[path]
		if !ok || file == "" {
			return nil, os.ErrNotExist
		}
		return os.Open(file)
	})
	checked := 0
	for _, p := range own {
		var syn []*ast.File
		for _, name := range files[p.path] {
			f, err := parser.ParseFile(fset, filepath.Join(p.dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			syn = append(syn, f)
		}
		if len(syn) == 0 {
			continue
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}, // method values and expressions too
			Uses: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(p.path, fset, syn, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.path, err)
		}
		checked++
		for sel, s := range info.Selections {
			if isGoSMTPClientAuth(s.Obj()) {
				t.Errorf("%s: %s calls go-smtp's Client.Auth; send credentials through smtp.Client.Login (clientauth.go)",
					fset.Position(sel.Pos()), p.path)
			}
		}
		for id, obj := range info.Uses {
			// go-smtp's SendMail and SendMailTLS log in by Client.Auth.
			if fn, ok := obj.(*types.Func); ok && fn.Pkg() != nil && fn.Pkg().Path() == "github.com/emersion/go-smtp" &&
				fn.Signature().Recv() == nil && (fn.Name() == "SendMail" || fn.Name() == "SendMailTLS") {
				t.Errorf("%s: %s calls go-smtp's %s, which logs in by Client.Auth", fset.Position(id.Pos()), p.path, fn.Name())
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages checked", checked)
	}
}

// isGoSMTPClientAuth: obj is go-smtp's (*Client).Auth.
func isGoSMTPClientAuth(obj types.Object) bool {
	fn, ok := obj.(*types.Func)
	if !ok || fn.Name() != "Auth" || fn.Pkg() == nil || fn.Pkg().Path() != "github.com/emersion/go-smtp" {
		return false
	}
	recv := fn.Signature().Recv()
	if recv == nil {
		return false
	}
	t := recv.Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Name() == "Client"
}
