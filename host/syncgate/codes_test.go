package syncgate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestCodesListsEveryConstant: a Code constant added to codes.go but not
// to ErrorCodes or RejectionCodes would escape the OpenAPI check.
func TestCodesListsEveryConstant(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[Code]bool{}
	for _, list := range [][]Code{ErrorCodes(), RejectionCodes()} {
		seen := map[Code]bool{}
		for _, c := range list {
			if seen[c] {
				t.Errorf("%q listed twice", c)
			}
			seen[c], listed[c] = true, true
		}
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				n++
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: not a string literal", name.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				if !listed[Code(v)] {
					t.Errorf("%s (%q) is in neither ErrorCodes nor RejectionCodes", name.Name, v)
				}
			}
		}
	}
	if n != len(listed) {
		t.Errorf("%d constants in codes.go, %d codes listed", n, len(listed))
	}
}
