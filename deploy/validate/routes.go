package validate

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// OpsRoutes returns the HTTP paths topspeed's ops server registers, read
// from the Go source of internal/ops (file): every string literal pattern
// passed to a Handle or HandleFunc method, such as "GET /livez". The
// routes are not exported by internal/ops, so they are read from its
// source rather than restated here.
func OpsRoutes(file string) (map[string]bool, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		return nil, err
	}
	routes := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		pat, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		// "METHOD /path" or "/path" (Go 1.22 patterns).
		if i := strings.IndexByte(pat, ' '); i >= 0 {
			pat = strings.TrimSpace(pat[i+1:])
		}
		if strings.HasPrefix(pat, "/") {
			routes[pat] = true
		}
		return true
	})
	if len(routes) == 0 {
		return nil, fmt.Errorf("%s: no Handle/HandleFunc routes found", file)
	}
	return routes, nil
}

// SortedKeys returns a set's keys in order.
func SortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
