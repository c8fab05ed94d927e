package syncscope_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/syncgate/syncgate/guest/authorize/syncscope"
)

// gen builds random rows and predicates of the supported subset, rendered
// twice: as sync config SQL and as plain SQLite SQL with the token's values
// written as literals and IN over a JSON array as json_each.
type gen struct {
	r    *rand.Rand
	user syncscope.User
}

var (
	plain = []any{nil, int64(-1), int64(0), int64(1), int64(2), 0.5, 1.0, 2.5, "1", "a", "b", "", true, false}
	jsons = []any{nil, int64(1), 1.5, "1", `{"k":"a"}`, `{"k":1}`, `{"k":{"n":2}}`, `[1,"a",null]`, `"s"`, "null", "true",
		map[string]any{"k": "a"}, map[string]any{"k": int64(1)}, []any{int64(1), "a"}}
	arrays = []string{`[]`, `[1]`, `["a",1]`, `[null]`, `["a",null]`, `[1.0,"1"]`, `[true]`}
)

func (g *gen) literal() (string, string) {
	switch g.r.IntN(7) {
	case 0:
		return "NULL", "NULL"
	case 1:
		return "1", "1"
	case 2:
		return "1.0", "1.0"
	case 3:
		return "'a'", "'a'"
	case 4:
		return "'1'", "'1'"
	case 5:
		return "true", "1"
	}
	return "-2", "-2"
}

// operand returns an operand and whether it uses the token.
func (g *gen) operand() (ps, ss string, auth bool) {
	switch g.r.IntN(8) {
	case 0, 1:
		c := []string{"a", "b"}[g.r.IntN(2)]
		return c, c, false
	case 2:
		k := []string{"'k'", "'$.k'", "'k.n'", "'$.k.n'", "0", "1", "'$'"}[g.r.IntN(7)]
		op := []string{"->>", "->"}[g.r.IntN(2)]
		if op == "->" && g.r.IntN(2) == 0 {
			return "j -> 'k' ->> 'n'", "j -> 'k' ->> 'n'", false
		}
		return "j " + op + " " + k, "j " + op + " " + k, false
	case 3:
		return "auth.user_id()", sqlLit(g.user.ID), true
	case 4:
		return "auth.parameter('n')", sqlLit(g.user.Claims["n"]), true
	}
	p, s := g.literal()
	return p, s, false
}

func sqlLit(x any) string {
	switch v := x.(type) {
	case nil:
		return "NULL"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case bool:
		if v {
			return "1"
		}
		return "0"
	case float64:
		s := fmt.Sprint(v)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	}
	return fmt.Sprint(x)
}

// pred returns a predicate and whether it uses the token (NOT may only wrap
// row-value conditions).
func (g *gen) pred(depth int) (ps, ss string, auth bool) {
	if depth > 0 && g.r.IntN(3) == 0 {
		a, as, aa := g.pred(depth - 1)
		b, bs, ba := g.pred(depth - 1)
		op := []string{"AND", "OR"}[g.r.IntN(2)]
		return "(" + a + " " + op + " " + b + ")", "(" + as + " " + op + " " + bs + ")", aa || ba
	}
	if depth > 0 && g.r.IntN(6) == 0 {
		if a, as, aa := g.pred(depth - 1); !aa {
			return "NOT " + a, "NOT " + as, false
		}
	}
	l, ls, la := g.operand()
	switch g.r.IntN(5) {
	case 0:
		not := []string{"", "NOT "}[g.r.IntN(2)]
		return l + " IS " + not + "NULL", ls + " IS " + not + "NULL", la
	case 1:
		arr := arrays[g.r.IntN(len(arrays))]
		not := ""
		if !la && g.r.IntN(2) == 0 {
			not = "NOT "
		}
		return l + " " + not + "IN '" + arr + "'", ls + " " + not + "IN (SELECT value FROM json_each('" + arr + "'))", la
	}
	r, rs, ra := g.operand()
	op := []string{"=", "!=", "<", ">", "<=", ">="}[g.r.IntN(6)]
	return l + " " + op + " " + r, ls + " " + op + " " + rs, la || ra
}

func sqliteArg(t *testing.T, x any) any {
	switch v := x.(type) {
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	case map[string]any, []any:
		s, err := syncscope.JSONText(v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return x
}

// TestAgainstSQLite: the evaluator gives SQLite's answers (1, 0 or NULL) on
// generated rows and predicates.
func TestAgainstSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t(a, b, j)"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	checked := 0
	for i := range n {
		claimN := []any{int64(1), 1.5, "x", nil, true}[r.IntN(5)]
		g := &gen{r: r, user: syncscope.User{ID: []string{"a", "1", "u"}[r.IntN(3)], Claims: map[string]any{"n": claimN}}}
		row := map[string]any{"a": plain[r.IntN(len(plain))], "b": plain[r.IntN(len(plain))], "j": jsons[r.IntN(len(jsons))]}
		ps, ss, _ := g.pred(3)
		if _, err := db.Exec("DELETE FROM t"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO t VALUES (?, ?, ?)", sqliteArg(t, row["a"]), sqliteArg(t, row["b"]), sqliteArg(t, row["j"])); err != nil {
			t.Fatal(err)
		}
		var want sql.NullInt64
		if err := db.QueryRow("SELECT (" + ss + ") FROM t").Scan(&want); err != nil {
			t.Fatalf("case %d: sqlite %s: %v", i, ss, err)
		}
		got, err := syncscope.EvalWhere(ps, row, g.user)
		if err != nil {
			t.Fatalf("case %d: EvalWhere(%s) on %v: %v", i, ps, row, err)
		}
		w := -1
		if want.Valid {
			w = int(want.Int64)
		}
		if got != w {
			t.Errorf("case %d: row %v, user %+v\n  %s\n  sqlite: %s\ngot %d, want %d", i, row, g.user, ps, ss, got, w)
		}
		checked++
	}
	t.Logf("%d predicates compared", checked)
}

// TestSubqueryAgainstSQLite: col IN (SELECT c FROM p WHERE …) and
// auth.user_id() IN (SELECT …) over generated parent rows select what SQLite
// selects (true vs not true: a subquery is never negated, so NULL and false
// are not told apart).
func TestSubqueryAgainstSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t(a, b, j); CREATE TABLE p(a, b, j)"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	n := 2000
	if testing.Short() {
		n = 200
	}
	for i := range n {
		g := &gen{r: r, user: syncscope.User{ID: []string{"a", "1", "u"}[r.IntN(3)], Claims: map[string]any{"n": []any{int64(1), "x", nil}[r.IntN(3)]}}}
		row := map[string]any{"a": plain[r.IntN(len(plain))], "b": plain[r.IntN(len(plain))], "j": jsons[r.IntN(len(jsons))]}
		var parents []map[string]any
		for range r.IntN(4) {
			parents = append(parents, map[string]any{"a": plain[r.IntN(len(plain))], "b": plain[r.IntN(len(plain))], "j": jsons[r.IntN(len(jsons))]})
		}
		if _, err := db.Exec("DELETE FROM t; DELETE FROM p"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO t VALUES (?, ?, ?)", sqliteArg(t, row["a"]), sqliteArg(t, row["b"]), sqliteArg(t, row["j"])); err != nil {
			t.Fatal(err)
		}
		for _, p := range parents {
			if _, err := db.Exec("INSERT INTO p VALUES (?, ?, ?)", sqliteArg(t, p["a"]), sqliteArg(t, p["b"]), sqliteArg(t, p["j"])); err != nil {
				t.Fatal(err)
			}
		}
		inner, innerS, _ := g.pred(2)
		left, leftS := "b", "t.b"
		if r.IntN(4) == 0 {
			left, leftS = "auth.user_id()", sqlLit(g.user.ID)
		}
		col := []string{"a", "b"}[r.IntN(2)]
		ps := left + " IN (SELECT " + col + " FROM p WHERE " + inner + ")"
		ss := leftS + " IN (SELECT p." + col + " FROM p WHERE " + qualify(innerS) + ")"
		var want sql.NullInt64
		if err := db.QueryRow("SELECT (" + ss + ") FROM t").Scan(&want); err != nil {
			t.Fatalf("case %d: sqlite %s: %v", i, ss, err)
		}
		lookups := 0
		got, err := syncscope.EvalWhereParents(ps, row, g.user, func(table, column string, _ any) []map[string]any {
			lookups++
			if table != "p" || column != col {
				t.Fatalf("lookup of %s.%s, want p.%s", table, column, col)
			}
			return parents
		})
		if err != nil {
			t.Fatalf("case %d: %s: %v", i, ps, err)
		}
		if (got == 1) != (want.Valid && want.Int64 == 1) {
			t.Errorf("case %d: row %v, parents %v, user %+v\n  %s\n  sqlite: %s\ngot %d, want %v", i, row, parents, g.user, ps, ss, got, want)
		}
	}
}

// qualify makes the generated inner predicate's columns the parent's (p.a):
// in SQLite an unqualified name in a subquery could mean the outer row's.
func qualify(s string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' {
			inStr = !inStr
		}
		if !inStr && (c == 'a' || c == 'b' || c == 'j') && (i == 0 || !isWord(s[i-1])) && (i+1 == len(s) || !isWord(s[i+1])) {
			b.WriteString("p.")
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isWord(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
