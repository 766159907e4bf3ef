package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestParallelTestsShareNothingGlobal: the tests of this package that
// call t.Parallel run beside one another (make test: -parallel 4), so
// none of them may change what the whole test process shares — the
// environment, the working directory, the umask, a package variable of
// the daemon's code, the loopback's nft rules — nor build in the
// repository; such a test stays one at a time. A parallel test whose
// body (or a function literal in it) does one of these fails here, by
// name. Helpers are not followed: a helper that does one of these is
// for serial tests only, and says so.
func TestParallelTestsShareNothingGlobal(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// What a parallel test must not touch: calls by their selector,
	// package variables by name.
	forbiddenCalls := map[string]string{
		"t.Setenv": "the environment", "os.Setenv": "the environment", "os.Unsetenv": "the environment",
		"os.Chdir": "the working directory", "syscall.Umask": "the umask",
	}
	forbiddenVars := map[string]bool{"helperRestart": true, "restoreMkdirStep": true, "serveHUP": true, "umbraBin": true, "thisBin": true}
	fset := token.NewFileSet()
	parallel := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Test") || !callsParallel(fn.Body) {
				continue
			}
			parallel++
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
						if x, ok := sel.X.(*ast.Ident); ok {
							if what, bad := forbiddenCalls[x.Name+"."+sel.Sel.Name]; bad {
								t.Errorf("%s (%s) calls t.Parallel and changes %s (%s.%s): it must run one at a time", fn.Name.Name, name, what, x.Name, sel.Sel.Name)
							}
						}
					}
					for _, a := range n.Args {
						if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING && (lit.Value == `"nft"` || lit.Value == `"make"`) {
							t.Errorf("%s (%s) calls t.Parallel and runs %s: it must run one at a time", fn.Name.Name, name, lit.Value)
						}
					}
				case *ast.AssignStmt:
					for _, l := range n.Lhs {
						if id, ok := l.(*ast.Ident); ok && forbiddenVars[id.Name] && n.Tok == token.ASSIGN {
							t.Errorf("%s (%s) calls t.Parallel and sets the package variable %s: it must run one at a time", fn.Name.Name, name, id.Name)
						}
					}
				}
				return true
			})
		}
	}
	if parallel == 0 {
		t.Fatal("no test calls t.Parallel: the check read nothing")
	}
}

// callsParallel reports whether body calls t.Parallel() as a statement of
// its own.
func callsParallel(body *ast.BlockStmt) bool {
	for _, st := range body.List {
		if e, ok := st.(*ast.ExprStmt); ok {
			if c, ok := e.X.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Parallel" {
					return true
				}
			}
		}
	}
	return false
}
