package syncscope

import (
	"strings"
	"testing"
)

// TestParseErrors: each way a config can be refused, with the line it names.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"not YAML", "streams: [", "syncscope: x.yaml: yaml:"},
		{"empty", "", "empty sync config"},
		{"not a mapping", "- a", "x.yaml:1: the sync config must be a mapping"},
		{"nothing to sync", "config:\n  edition: 3\n", "neither streams nor bucket_definitions"},
		{"unknown top key", "streams: {}\nrules: 1\n", `x.yaml:2: unknown key "rules"`},
		{"shared CTEs", "with:\n  a: SELECT 1\nstreams: {}\n", "x.yaml:1: with (shared CTEs) is not supported"},
		{"streams not a mapping", "streams: [a]\n", "x.yaml:1: streams must be a mapping"},
		{"stream not a mapping", "streams:\n  s: SELECT 1\n", `x.yaml:2: stream "s": a stream must be a mapping`},
		{"queries not a list", "streams:\n  s:\n    queries: SELECT * FROM t\n", `x.yaml:3: stream "s": queries must be a list`},
		{"unknown stream key", "streams:\n  s:\n    query: SELECT * FROM t WHERE a = auth.user_id()\n    ttl: 5\n", `x.yaml:4: stream "s": unknown stream key "ttl"`},
		{"auto_subscribe not bool", "streams:\n  s:\n    auto_subscribe: yes please\n    query: SELECT * FROM t\n", "auto_subscribe must be true or false"},
		{"priority not int", "streams:\n  s:\n    priority: high\n    query: SELECT * FROM t\n", "priority must be an integer"},
		{"no query", "streams:\n  s:\n    auto_subscribe: true\n", `x.yaml:3: stream "s": no query`},
		{"query not a string", "streams:\n  s:\n    query: [1]\n", "a query must be a string"},
		{"buckets not a mapping", "bucket_definitions: 3\n", "bucket_definitions must be a mapping"},
		{"bucket not a mapping", "bucket_definitions:\n  b: 3\n", "a bucket definition must be a mapping"},
		{"unknown bucket key", "bucket_definitions:\n  b:\n    datas: []\n", `unknown bucket key "datas"`},
		{"data not a list", "bucket_definitions:\n  b:\n    data: SELECT * FROM t\n", "data must be a list"},
		{"no data", "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id() as u\n", "no data queries"},
		{"different parameter outputs", "bucket_definitions:\n  b:\n    parameters:\n      - SELECT request.user_id() as u\n      - SELECT request.user_id() as v\n    data:\n      - SELECT * FROM t WHERE o = bucket.u\n", "x.yaml:5: bucket \"b\": parameter queries must select the same columns"},
		{"unknown bucket parameter", "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id() as u\n    data:\n      - SELECT * FROM t WHERE o = bucket.u AND p = bucket.v\n", "uses bucket.v, which the parameter query does not select"},
		{"bucket ref in a global bucket", "bucket_definitions:\n  b:\n    data:\n      - SELECT * FROM t WHERE o = bucket.u\n", "bucket.u in a bucket without parameter queries"},
		{"unbound table parameter", "bucket_definitions:\n  b:\n    parameters: SELECT id as l FROM lists WHERE owner = request.jwt() ->> 'sub'\n    data:\n      - SELECT * FROM t WHERE t.l = bucket.l OR t.x = 1\n", "the rows of lists cannot be found"},
		{"parameter without a name", "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id()\n    data:\n      - SELECT * FROM t\n", "needs a name (AS …)"},
		{"parameter twice", "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id() as u, request.user_id() as u\n    data:\n      - SELECT * FROM t WHERE o = bucket.u\n", "parameter u is selected twice"},
		{"star parameter", "bucket_definitions:\n  b:\n    parameters: SELECT * FROM users\n    data:\n      - SELECT * FROM t\n", "* in a parameter query is not supported"},
		{"column without FROM", "bucket_definitions:\n  b:\n    parameters: SELECT owner as u\n    data:\n      - SELECT * FROM t WHERE o = bucket.u\n", "column owner in a query without FROM"},
		{"auth in a parameter query", "bucket_definitions:\n  b:\n    parameters: SELECT auth.user_id() as u\n    data:\n      - SELECT * FROM t WHERE o = bucket.u\n", "auth.user_id() is sync streams syntax"},
		{"request in a data query", "bucket_definitions:\n  b:\n    data:\n      - SELECT * FROM t WHERE o = request.user_id()\n", "in a data query is not supported"},
		{"bucket outside data", "streams:\n  s:\n    query: SELECT * FROM t WHERE o = bucket.u\n", "bucket.u is only valid in a data query"},
		{"token_parameters in a stream", "streams:\n  s:\n    query: SELECT * FROM t WHERE o = token_parameters.user_id\n", "token_parameters.user_id is only valid in a parameter query"},
		{"function without parentheses", "streams:\n  s:\n    query: SELECT * FROM t WHERE o = auth.user_id\n", "auth.user_id is a function"},
		{"parameter() without key", "streams:\n  s:\n    query: SELECT * FROM t WHERE o = auth.parameter()\n", "auth.parameter() takes one string argument"},
		{"user_id() with an argument", "streams:\n  s:\n    query: SELECT * FROM t WHERE o = auth.user_id('x')\n", "auth.user_id() takes no argument"},
		{"two arguments", "streams:\n  s:\n    query: SELECT * FROM t WHERE o = auth.parameter('a', 'b')\n", "auth.parameter() takes at most one argument"},
		{"unknown qualifier", "streams:\n  s:\n    query: SELECT * FROM t WHERE u.o = auth.user_id()\n", "unknown table u"},
		{"correlated subquery", "streams:\n  s:\n    query: SELECT * FROM t WHERE l IN (SELECT id FROM lists WHERE lists.o = t.o)\n", "a correlated subquery (reference to t.o) is not supported"},
		{"subquery with two columns", "streams:\n  s:\n    query: SELECT * FROM t WHERE l IN (SELECT id, o FROM lists)\n", "exactly one column"},
		{"subquery star", "streams:\n  s:\n    query: SELECT * FROM t WHERE l IN (SELECT * FROM lists)\n", "must select one column"},
		{"subquery function", "streams:\n  s:\n    query: SELECT * FROM t WHERE l IN (SELECT lower(id) FROM lists)\n", "function lower() in a subquery"},
		{"subquery wrong qualifier", "streams:\n  s:\n    query: SELECT * FROM t WHERE l IN (SELECT x.id FROM lists)\n", "unknown table x in the subquery"},
		{"subquery on an expression", "streams:\n  s:\n    query: SELECT * FROM t WHERE m ->> 'l' IN (SELECT id FROM lists)\n", "needs a column of the row or auth.user_id() on its left"},
		{"subquery as a value", "streams:\n  s:\n    query: SELECT * FROM t WHERE l = (SELECT id FROM lists)\n", "only supported as IN (SELECT …)"},
		{"subquery in columns", "streams:\n  s:\n    query: SELECT (SELECT 1) FROM t\n", "a subquery in the selected columns"},
		{"subquery in FROM", "streams:\n  s:\n    query: SELECT * FROM (SELECT * FROM t) AS x\n", "a subquery in FROM"},
		{"comma join", "streams:\n  s:\n    query: SELECT * FROM t, u WHERE t.a = u.b\n", "JOIN is not supported"},
		{"IN list", "streams:\n  s:\n    query: SELECT * FROM t WHERE a IN ('x', 'y')\n", "IN with a parenthesized list"},
		{"NOT over a parameter", "streams:\n  s:\n    query: SELECT * FROM t WHERE NOT o = auth.user_id()\n", "NOT over a parameter or a subquery"},
		{"NOT IN over a parameter", "streams:\n  s:\n    query: SELECT * FROM t WHERE id NOT IN subscription.parameter('ids')\n", "NOT IN over a parameter"},
		{"EXISTS", "streams:\n  s:\n    query: SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u)\n", "EXISTS is not supported"},
		{"NOT EXISTS", "streams:\n  s:\n    query: SELECT * FROM t WHERE NOT EXISTS (SELECT 1 FROM u)\n", "EXISTS is not supported"},
		{"LIKE", "streams:\n  s:\n    query: SELECT * FROM t WHERE o LIKE 'a%'\n", "LIKE is not supported"},
		{"bare column", "streams:\n  s:\n    query: SELECT * FROM t WHERE active\n", "active alone is not a condition"},
		{"bare literal", "streams:\n  s:\n    query: SELECT * FROM t WHERE TRUE\n", "TRUE alone is not a condition"},
		{"compared condition", "streams:\n  s:\n    query: SELECT * FROM t WHERE (a = 1) = 1\n", "a condition cannot be compared"},
		{"<>", "streams:\n  s:\n    query: SELECT * FROM t WHERE a <> 1\n", "operator <> is not supported"},
		{"==", "streams:\n  s:\n    query: SELECT * FROM t WHERE a == 1\n", "operator == is not supported"},
		{"concatenation", "streams:\n  s:\n    query: SELECT * FROM t WHERE a = 'x' || 'y'\n", "operator || is not supported"},
		{"cast", "streams:\n  s:\n    query: SELECT * FROM t WHERE a::text = 'x'\n", "cast (::) is not supported"},
		{"bad path", "streams:\n  s:\n    query: SELECT * FROM t WHERE a ->> '$x' = 1\n", `JSON path "$x" is not supported`},
		{"bad path key", "streams:\n  s:\n    query: SELECT * FROM t WHERE a ->> auth.user_id() = 1\n", "expected a key"},
		{"unterminated string", "streams:\n  s:\n    query: SELECT * FROM t WHERE a = 'x\n", "unterminated string"},
		{"unterminated comment", "streams:\n  s:\n    query: SELECT * FROM t /* x\n", "unterminated comment"},
		{"exponent", "streams:\n  s:\n    query: SELECT * FROM t WHERE a = 1e5\n", "exponent in a number literal"},
		{"bad character", "streams:\n  s:\n    query: SELECT * FROM t WHERE a = ?\n", "unexpected character '?'"},
		{"no FROM", "streams:\n  s:\n    query: SELECT 1\n", "expected FROM"},
		{"not a SELECT", "streams:\n  s:\n    query: DELETE FROM t\n", "expected SELECT"},
		{"WITH inline", "streams:\n  s:\n    query: WITH x AS (SELECT 1) SELECT * FROM t\n", "WITH (CTE) is not supported"},
		{"trailing tokens", "streams:\n  s:\n    query: SELECT * FROM t WHERE a = 1 b\n", `unexpected "b"`},
		{"GROUP BY", "streams:\n  s:\n    query: SELECT * FROM t GROUP BY a\n", "GROUP BY is not supported"},
		{"keyword as table", "streams:\n  s:\n    query: SELECT * FROM WHERE\n", "expected a table name"},
		{"line of a literal block", "streams:\n  s:\n    query: |\n      SELECT * FROM t\n      WHERE a = 1\n        AND b BETWEEN 1 AND 2\n", "x.yaml:6: stream \"s\": BETWEEN is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.yaml, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "syncscope: x.yaml") {
				t.Errorf("error %q lacks the operation prefix", err)
			}
		})
	}
}

// TestParseAccepts: forms inside the subset that the doc cases do not show.
func TestParseAccepts(t *testing.T) {
	for _, q := range []string{
		"SELECT * FROM t WHERE a = 1; ",
		"SELECT * FROM t AS x WHERE x.o = auth.user_id() -- trailing comment",
		"SELECT * FROM t x WHERE x.o = auth.user_id() /* c */",
		`SELECT * FROM "T" WHERE "o" = auth.user_id() AND a = -1 AND b = -1.5 AND c = 'it''s'`,
		"SELECT * FROM t WHERE a ->> '$.k[0].\"x y\"' = auth.parameter('k') AND b -> 0 IS NOT NULL",
		"SELECT * FROM t WHERE auth.user_id() IN shared_with",
		"SELECT * FROM t WHERE l IN (SELECT lists.id FROM lists AS l2 WHERE owner = auth.user_id())",
		"SELECT * FROM t WHERE NOT (a = 1 OR b IS NULL) AND o = auth.user_id()",
	} {
		if _, err := Parse("x.yaml", []byte("streams:\n  s:\n    query: "+jsonQuote(q)+"\n")); err != nil {
			t.Errorf("Parse(%s): %v", q, err)
		}
	}
}
