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
// environment, the working directory, the umask, a package variable
// (umbraBin, which withBinary swaps for an older release's binary, and
// the daemon code's own), the loopback's nft rules — nor build in the
// repository; such a test stays one at a time. A parallel test that does
// one of these, itself or through any function of this package it calls
// (followed to the end), fails here, by name.
func TestParallelTestsShareNothingGlobal(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbiddenCalls := map[string]string{
		"t.Setenv": "the environment", "os.Setenv": "the environment", "os.Unsetenv": "the environment",
		"os.Chdir": "the working directory", "syscall.Umask": "the umask",
	}
	forbiddenVars := map[string]bool{"helperRestart": true, "restoreMkdirStep": true, "serveHUP": true, "umbraBin": true, "thisBin": true}
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{} // the package's functions (not methods), by name
	var tests []*ast.FuncDecl
	where := map[*ast.FuncDecl]string{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Body != nil && fn.Recv == nil {
				funcs[fn.Name.Name] = fn
				where[fn] = name
				if strings.HasPrefix(fn.Name.Name, "Test") && strings.HasSuffix(name, "_test.go") {
					tests = append(tests, fn)
				}
			}
		}
	}
	// own is what fn itself does that a parallel test must not; calls,
	// the package functions it calls.
	own := func(fn *ast.FuncDecl) (what string, calls []string) {
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				switch f := n.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := f.X.(*ast.Ident); ok {
						if w, bad := forbiddenCalls[x.Name+"."+f.Sel.Name]; bad && what == "" {
							what = "changes " + w + " (" + x.Name + "." + f.Sel.Name + ")"
						}
					}
				case *ast.Ident:
					calls = append(calls, f.Name)
				}
				for _, a := range n.Args {
					if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING && (lit.Value == `"nft"` || lit.Value == `"make"`) && what == "" {
						what = "runs " + lit.Value
					}
				}
			case *ast.AssignStmt:
				for _, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok && forbiddenVars[id.Name] && n.Tok == token.ASSIGN && what == "" {
						what = "sets the package variable " + id.Name
					}
				}
			}
			return true
		})
		return what, calls
	}
	// why[name]: what a call of the function does that a parallel test
	// must not, through which chain of calls; "" for nothing.
	why := map[string]string{}
	var judge func(name string, seen map[string]bool) string
	judge = func(name string, seen map[string]bool) string {
		if w, ok := why[name]; ok {
			return w
		}
		fn := funcs[name]
		if fn == nil || seen[name] {
			return ""
		}
		seen[name] = true
		w, calls := own(fn)
		for _, c := range calls {
			if w != "" {
				break
			}
			if cw := judge(c, seen); cw != "" {
				w = "calls " + c + ", which " + cw
			}
		}
		why[name] = w
		return w
	}
	parallel := 0
	for _, fn := range tests {
		if !callsParallel(fn.Body) {
			continue
		}
		parallel++
		if w := judge(fn.Name.Name, map[string]bool{}); w != "" {
			t.Errorf("%s (%s) calls t.Parallel and %s: it must run one at a time", fn.Name.Name, where[fn], w)
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
