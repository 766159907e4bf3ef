package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The import rules of the architecture: config and routing import no
// other umbra package but mailaddr (the one rule for comparing
// addresses, a leaf that imports no umbra package) and leftover (the
// one list of names a start removes, which config refuses as a file a
// command writes and queue's start removes); delivery, smtp and queue never import admin,
// metrics, tracking or cmd; only cmd/umbra wires everything; no package
// but queue imports bbolt; shadow is pure logic over interfaces; only
// _test.go files and the test helper packages (slapdtest, dnstest,
// queuetest) import testsupport, and none of them goes into the binary.
func TestImportGraph(t *testing.T) {
	deps, err := exec.Command("go", "list", "-deps", "umbra/cmd/umbra").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range strings.Fields(string(deps)) {
		if d == "umbra/internal/testsupport" || strings.HasPrefix(d, "umbra/") && strings.HasSuffix(d, "test") {
			t.Errorf("the binary depends on %s, a package for tests only", d)
		}
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "umbra/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string][]string{
		"umbra/internal/config":   {"umbra/"},
		"umbra/internal/routing":  {"umbra/"},
		"umbra/internal/clock":    {"umbra/"},
		"umbra/internal/mailbox":  {"umbra/"},
		"umbra/internal/header":   {"umbra/"},
		"umbra/internal/mailaddr": {"umbra/"},
		"umbra/internal/systemd":  {"umbra/"},
		// testsupport serves every package's tests: it imports none.
		"umbra/internal/testsupport": {"umbra/"},
		"umbra/internal/queue":       {"umbra/internal/smtp", "umbra/internal/delivery", "umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking", "umbra/internal/config"},
		"umbra/internal/smtp":        {"umbra/internal/delivery", "umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking"},
		"umbra/internal/delivery":    {"umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking"},
		// dumpster is policy over the queue's store: no protocol, no config.
		"umbra/internal/dumpster": {"umbra/internal/smtp", "umbra/internal/delivery", "umbra/internal/admin", "umbra/internal/metrics", "umbra/internal/tracking", "umbra/internal/config", "net"},
		// shadow is logic over interfaces: no store, no protocol, no network.
		"umbra/internal/shadow": {"umbra/internal/queue", "umbra/internal/smtp", "umbra/internal/delivery", "umbra/internal/config", "net"},
		// recipients is the directory interface and its sources: the
		// callout's client and cache are given to it as interfaces.
		"umbra/internal/recipients": {"umbra/", "net"},
		// resolver is the DNS client: it knows no configuration and no mail.
		"umbra/internal/resolver": {"umbra/internal/config", "umbra/internal/smtp", "umbra/internal/queue", "umbra/internal/delivery"},
		// connection filtering are checks of the edge chain: no store, no delivery.
		"umbra/internal/connfilter": {"umbra/internal/queue", "umbra/internal/delivery", "umbra/internal/metrics", "umbra/internal/admin"},
	}
	// The scheduler's split: queue keeps state and decides when and how
	// many — it speaks no protocol and opens no connection (it hands jobs
	// to a Deliverer); delivery speaks SMTP/LMTP and reports results — it
	// neither schedules (shadow timing, the dumpster) nor opens the store.
	for pkg, bad := range map[string][]string{
		"umbra/internal/queue":    {"umbra/internal/shadow", "umbra/internal/routing", "net", "crypto/tls", "github.com/emersion/go-smtp"},
		"umbra/internal/delivery": {"umbra/internal/shadow", "umbra/internal/dumpster"},
	} {
		forbidden[pkg] = append(forbidden[pkg], bad...)
	}
	// The runtime's wiring: the adapter between the queue's store and
	// the shadow logic is imported only where everything is wired, and
	// only those places import both queue and shadow (the scheduler
	// drives shadow timing through queue.Client and queue.TaskRunner,
	// which shadow.Manager satisfies without importing queue). The
	// operator's views (admin, console) read both parts' status.
	// Leaf utilities that import no umbra package: any package may use them.
	leaf := map[string]bool{"umbra/internal/mailaddr": true, "umbra/internal/filelimit": true, "umbra/internal/panicline": true,
		"umbra/internal/leftover": true}
	wiring := map[string]bool{"umbra/cmd/umbra": true, "umbra/internal/sim": true, "umbra/internal/shadowstore": true,
		"umbra/internal/admin": true, "umbra/internal/console": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		if !wiring[pkg] {
			hasQueue, hasShadow := false, false
			for _, imp := range imports {
				hasQueue = hasQueue || imp == "umbra/internal/queue"
				hasShadow = hasShadow || imp == "umbra/internal/shadow"
				if imp == "umbra/internal/shadowstore" {
					t.Errorf("%s imports the shadow store adapter; only the wiring (cmd/umbra, sim) does", pkg)
				}
			}
			if hasQueue && hasShadow {
				t.Errorf("%s imports both queue and shadow; only the wiring does", pkg)
			}
		}
		for _, imp := range imports {
			for _, bad := range forbidden[pkg] {
				if (imp == bad || strings.HasPrefix(imp, bad) && strings.HasSuffix(bad, "/") || strings.HasPrefix(imp, bad+"/")) && imp != pkg && !leaf[imp] {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
			if imp == "umbra/internal/testsupport" && !strings.HasSuffix(pkg, "test") {
				t.Errorf("%s imports testsupport outside its tests; only _test.go files and the test helper packages (…test) may (nothing of it goes into the binary)", pkg)
			}
			if imp == "go.etcd.io/bbolt" && pkg != "umbra/internal/queue" {
				t.Errorf("%s opens bbolt; only the queue owns the transport database", pkg)
			}
		}
	}
}

// No late binding between the parts of the runtime (issue 15): the
// scheduler (queue), the SMTP side (delivery), shadow redundancy's logic
// (shadow) and the dumpster get their dependencies at construction or
// through an explicit interface — never a setter that hands one part
// another after both were built (SetDedup, SetHeartbeater, SetManager),
// nor a mutable hook field (Manager.OnShadowed). Setters of
// configuration (reloads) take values, not parts, and stay allowed.
func TestNoLateBinding(t *testing.T) {
	// The types of the runtime's parts and the interfaces they are
	// seen through: a setter taking one of these wires a part late.
	parts := map[string]bool{"Manager": true, "Deliverer": true, "Dedup": true, "Heartbeater": true, "Watcher": true,
		"Shadows": true, "Recorder": true, "Runner": true, "TaskRunner": true, "Client": true, "FinalClaims": true,
		"Keeper": true, "Dumpster": true, "Store": true}
	// The structs of those parts: an exported field of func type on one
	// is a hook anyone may rewire at run time.
	holders := map[string]bool{"Manager": true, "Deliverer": true, "Dumpster": true, "Recorder": true, "FinalClaims": true}
	for _, dir := range []string{"queue", "delivery", "shadow", "dumpster"} {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, filepath.Join("..", "..", "internal", dir), func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, pkg := range pkgs {
			for _, file := range pkg.Files {
				ast.Inspect(file, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.FuncDecl:
						if n.Recv == nil || !n.Name.IsExported() || !strings.HasPrefix(n.Name.Name, "Set") {
							return false
						}
						for _, p := range n.Type.Params.List {
							if name := typeName(p.Type); parts[name] {
								t.Errorf("%s: %s.%s takes a %s: late binding of a part of the runtime; give it at construction",
									fset.Position(n.Pos()), dir, n.Name.Name, name)
							}
						}
						return false
					case *ast.TypeSpec:
						st, ok := n.Type.(*ast.StructType)
						if !ok || !holders[n.Name.Name] {
							return false
						}
						for _, f := range st.Fields.List {
							if _, fn := f.Type.(*ast.FuncType); !fn {
								continue
							}
							for _, name := range f.Names {
								if name.IsExported() {
									t.Errorf("%s: %s.%s.%s is a mutable hook; use an interface given at construction",
										fset.Position(name.Pos()), dir, n.Name.Name, name.Name)
								}
							}
						}
						return false
					}
					return true
				})
			}
		}
	}
}

// typeName is the name of a parameter's type without package or pointer.
func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return typeName(e.X)
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.Ident:
		return e.Name
	}
	return ""
}
