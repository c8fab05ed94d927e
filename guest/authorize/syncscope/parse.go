package syncscope

import (
	"strconv"
	"strings"
)

// nodeKind is the class of one node of a parsed condition or expression.
type nodeKind uint8

const (
	nLit    nodeKind = iota
	nCol             // a column of the query's table
	nUserID          // auth.user_id(), request.user_id(), token_parameters.user_id
	nClaims          // auth.parameter('k'), token_parameters.k (path set); auth.parameters(), request.jwt() (whole payload)
	nClient          // subscription./connection.parameter(s), request.parameters(): chosen by the client
	nBucket          // bucket.p in a legacy data query
	nJSON            // x -> 'k' or x ->> 'k'
	nCmp             // = != < > <= >=
	nIsNull          // x IS [NOT] NULL
	nIn              // x [NOT] IN <JSON array>
	nInSub           // col IN (SELECT c FROM t WHERE …)
	nAnd
	nOr
	nNot
)

// flags say what a node's value depends on.
const (
	fRow    uint8 = 1 << iota // a column of the row
	fAuth                     // the token: user id or claims
	fClient                   // a value the client chose
	fBucket                   // a bucket parameter (legacy data query)
	fSub                      // a subquery
)

// node is one parsed expression or condition.
type node struct {
	kind  nodeKind
	op    string // nCmp: the operator
	not   bool   // nIsNull: IS NOT NULL; nIn: NOT IN
	text  bool   // nJSON: ->> (true) or -> (false)
	l, r  *node
	kids  []*node // nAnd, nOr
	lit   value
	name  string     // nCol: column; nBucket: parameter; nClient: the call as written
	path  []pathStep // nClaims, nJSON
	sub   *subquery
	flags uint8
	qual  string // nCol: the qualifier as written, until checked
	src   string // the source text of the node, for explanations
}

// subquery is the one level of `IN (SELECT c FROM t WHERE …)` the subset allows.
type subquery struct {
	table, column string
	where         *node
}

// pathStep is one step of a JSON path: an object key or an array index.
type pathStep struct {
	key   string
	index int
	isIdx bool
}

// mode says which dialect a query is in, and so which parameters it may use.
type mode uint8

const (
	modeStream mode = iota // streams.<name>.query(ies)
	modeParam              // bucket_definitions.<name>.parameters
	modeData               // bucket_definitions.<name>.data
)

// query is one parsed SELECT.
type query struct {
	table string // "" for a static parameter query
	alias string
	items []item // parameter queries only: what the query outputs
	where *node  // nil: no WHERE
}

// item is one output column of a parameter query.
type item struct {
	name string
	x    *node
}

type parser struct {
	src   string
	toks  []token
	i     int
	mode  mode
	table string // the FROM table of the SELECT being parsed
	alias string
	outer string // the outer table while parsing a subquery; "" at top level
}

// parseQuery parses one query of the given dialect.
func parseQuery(src string, m mode) (*query, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks, mode: m}
	q, err := p.selectStmt()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.is(";") && p.toks[p.i+1].kind == tEOF {
		p.i++
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	return q, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// accept consumes the keyword or operator kw if it is next.
func (p *parser) accept(kw string) bool {
	if p.peek().is(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(kw string) error {
	if !p.accept(kw) {
		return posErr(p.peek().pos, "expected %s, found %s", kw, describe(p.peek()))
	}
	return nil
}

// unsupportedWords names the constructs outside the subset by their first keyword.
var unsupportedWords = map[string]string{
	"JOIN": "JOIN", "INNER": "JOIN", "LEFT": "JOIN", "RIGHT": "JOIN", "CROSS": "JOIN", "OUTER": "JOIN", "FULL": "JOIN",
	"NATURAL": "JOIN", "GROUP": "GROUP BY", "ORDER": "ORDER BY", "LIMIT": "LIMIT", "OFFSET": "OFFSET", "UNION": "UNION",
	"INTERSECT": "INTERSECT", "EXCEPT": "EXCEPT", "HAVING": "HAVING", "WITH": "WITH (CTE)", "BETWEEN": "BETWEEN",
	"CASE": "CASE", "CAST": "CAST", "EXISTS": "EXISTS", "LIKE": "LIKE", "GLOB": "GLOB", "REGEXP": "REGEXP",
	"MATCH": "MATCH", "COLLATE": "COLLATE", "DISTINCT": "DISTINCT", "ESCAPE": "ESCAPE",
}

// reserved words cannot be column names.
var reserved = map[string]bool{"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true,
	"IN": true, "IS": true, "NULL": true, "TRUE": true, "FALSE": true, "AS": true, "ON": true}

func (p *parser) unexpected(t token) error {
	if t.kind == tIdent {
		if c, ok := unsupportedWords[strings.ToUpper(t.text)]; ok {
			return posErr(t.pos, "%s is not supported", c)
		}
	}
	if t.kind == tOp {
		switch t.text {
		case "&&":
			return posErr(t.pos, "operator && (array overlap) is not supported")
		case "::":
			return posErr(t.pos, "cast (::) is not supported")
		case "+", "-", "*", "/", "%", "||", "|", "&", "<<", ">>":
			return posErr(t.pos, "operator %s is not supported", t.text)
		case "<>", "==":
			return posErr(t.pos, "operator %s is not supported (use = or !=)", t.text)
		case ",":
			return posErr(t.pos, "a comma here is not supported (several tables in FROM are a join)")
		}
	}
	return posErr(t.pos, "unexpected %s", describe(t))
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string '" + t.text + "'"
	case tQuoted:
		return `"` + t.text + `"`
	}
	return strconv.Quote(t.text)
}

// selectStmt parses SELECT … FROM t [WHERE …] at the top level of a query.
func (p *parser) selectStmt() (*query, error) {
	if t := p.peek(); !t.is("SELECT") {
		if t.is("WITH") {
			return nil, posErr(t.pos, "WITH (CTE) is not supported")
		}
		return nil, posErr(t.pos, "expected SELECT, found %s", describe(t))
	}
	p.next()
	q := &query{}
	var err error
	if p.mode == modeParam {
		q.items, err = p.items()
	} else {
		err = p.skipColumns()
	}
	if err != nil {
		return nil, err
	}
	if p.accept("FROM") {
		if q.table, q.alias, err = p.from(); err != nil {
			return nil, err
		}
	} else if p.mode != modeParam {
		return nil, posErr(p.peek().pos, "expected FROM, found %s", describe(p.peek()))
	}
	p.table, p.alias = q.table, q.alias
	if p.mode == modeParam {
		// Items were parsed before FROM named the table: resolve their columns now.
		for _, it := range q.items {
			if err := p.resolve(it.x); err != nil {
				return nil, err
			}
		}
	}
	if w := p.peek(); p.accept("WHERE") {
		if q.where, err = p.or(); err != nil {
			return nil, err
		}
		if err := condition(q.where, w.pos); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// skipColumns passes over the output columns of a stream or data query: they
// choose what is synced, not which rows, so they do not change who may write a
// row. A subquery among them is still refused.
func (p *parser) skipColumns() error {
	depth := 0
	for {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			return posErr(t.pos, "expected FROM, found end of query")
		case t.is("("):
			depth++
		case t.is(")"):
			if depth == 0 {
				return p.unexpected(t)
			}
			depth--
		case t.is("SELECT"):
			return posErr(t.pos, "a subquery in the selected columns is not supported")
		case t.is("FROM") && depth == 0:
			return nil
		}
		p.next()
	}
}

// items parses the output columns of a legacy parameter query.
func (p *parser) items() ([]item, error) {
	if p.peek().is("FROM") {
		return nil, nil // SELECT FROM users WHERE …: a bucket without parameters for some users
	}
	var out []item
	for {
		start := p.peek()
		if start.is("*") {
			return nil, posErr(start.pos, "* in a parameter query is not supported")
		}
		x, err := p.value()
		if err != nil {
			return nil, err
		}
		name := ""
		if p.accept("AS") {
			t := p.next()
			if t.kind != tIdent && t.kind != tQuoted {
				return nil, posErr(t.pos, "expected a name after AS, found %s", describe(t))
			}
			name = t.text
		} else if x.kind == nCol {
			name = x.name
		} else {
			return nil, posErr(start.pos, "parameter %q needs a name (AS …)", x.src)
		}
		for _, o := range out {
			if o.name == name {
				return nil, posErr(start.pos, "parameter %s is selected twice", name)
			}
		}
		out = append(out, item{name, x})
		if !p.accept(",") {
			return out, nil
		}
	}
}

// from parses the single table of a FROM clause and its alias.
func (p *parser) from() (table, alias string, err error) {
	t := p.next()
	switch {
	case t.is("("):
		return "", "", posErr(t.pos, "a subquery in FROM is not supported")
	case t.kind == tIdent && reserved[strings.ToUpper(t.text)], t.kind != tIdent && t.kind != tQuoted:
		return "", "", posErr(t.pos, "expected a table name, found %s", describe(t))
	}
	table = t.text
	if p.peek().is("(") {
		return "", "", posErr(t.pos, "table-valued function %s() is not supported", t.text)
	}
	if p.peek().is(".") {
		return "", "", posErr(t.pos, "a schema-qualified table (%s.…) is not supported", t.text)
	}
	if strings.ContainsAny(table, "%") {
		return "", "", posErr(t.pos, "a wildcard table name is not supported")
	}
	if p.accept("AS") {
		a := p.next()
		if a.kind != tIdent && a.kind != tQuoted {
			return "", "", posErr(a.pos, "expected an alias after AS, found %s", describe(a))
		}
		alias = a.text
	} else if a := p.peek(); a.kind == tQuoted || a.kind == tIdent && !reserved[strings.ToUpper(a.text)] &&
		unsupportedWords[strings.ToUpper(a.text)] == "" {
		p.next()
		alias = a.text
	}
	if n := p.peek(); n.is(",") || n.kind == tIdent && unsupportedWords[strings.ToUpper(n.text)] == "JOIN" {
		return "", "", posErr(n.pos, "JOIN is not supported (one table per query)")
	}
	return table, alias, nil
}

// or parses a condition: OR of ANDs of (NOT) predicates.
func (p *parser) or() (*node, error) {
	start := p.peek().pos
	x, err := p.and()
	if err != nil || !p.peek().is("OR") {
		return x, err
	}
	n := &node{kind: nOr, kids: []*node{x}, flags: x.flags}
	for p.accept("OR") {
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, y)
		n.flags |= y.flags
	}
	return p.span(n, start), nil
}

func (p *parser) and() (*node, error) {
	start := p.peek().pos
	x, err := p.not()
	if err != nil || !p.peek().is("AND") {
		return x, err
	}
	n := &node{kind: nAnd, kids: []*node{x}, flags: x.flags}
	for p.accept("AND") {
		y, err := p.not()
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, y)
		n.flags |= y.flags
	}
	return p.span(n, start), nil
}

func (p *parser) not() (*node, error) {
	t := p.peek()
	if !t.is("NOT") {
		return p.predicate()
	}
	p.next()
	if p.peek().is("EXISTS") {
		return nil, posErr(t.pos, "EXISTS is not supported")
	}
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	if err := condition(x, t.pos); err != nil {
		return nil, err
	}
	if x.flags&^fRow != 0 {
		return nil, posErr(t.pos, "NOT over a parameter or a subquery is not supported (NOT applies to row values only)")
	}
	return p.span(&node{kind: nNot, l: x, flags: x.flags}, t.pos), nil
}

// span records the source text from start to the last token consumed.
func (p *parser) span(n *node, start int) *node {
	end := len(p.src)
	if p.i > 0 {
		end = p.toks[p.i-1].pos + tokenLen(p.src, p.toks[p.i-1])
	}
	n.src = strings.Join(strings.Fields(p.src[start:end]), " ")
	return n
}

// tokenLen is the length of t's text in the source (quotes included).
func tokenLen(src string, t token) int {
	switch t.kind {
	case tString, tQuoted:
		_, n, _ := unquote(src[t.pos:], src[t.pos])
		return n
	case tEOF:
		return 0
	}
	return len(t.text)
}

func (p *parser) predicate() (*node, error) {
	start := p.peek().pos
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if (t.is("=") || t.is("!=") || t.is("<") || t.is(">") || t.is("<=") || t.is(">=") || t.is("IS") || t.is("IN") || t.is("NOT")) && !isValue(l) {
		return nil, posErr(t.pos, "a condition cannot be compared (%s)", l.src)
	}
	switch {
	case t.is("=") || t.is("!=") || t.is("<") || t.is(">") || t.is("<=") || t.is(">="):
		p.next()
		r, err := p.value()
		if err != nil {
			return nil, err
		}
		return p.span(&node{kind: nCmp, op: t.text, l: l, r: r, flags: l.flags | r.flags}, start), nil
	case t.is("IS"):
		p.next()
		not := p.accept("NOT")
		if err := p.expect("NULL"); err != nil {
			return nil, err
		}
		return p.span(&node{kind: nIsNull, not: not, l: l, flags: l.flags}, start), nil
	case t.is("IN"), t.is("NOT") && p.toks[p.i+1].is("IN"):
		not := p.accept("NOT")
		p.next()
		if p.peek().is("(") && p.toks[p.i+1].is("SELECT") {
			if not {
				return nil, posErr(t.pos, "NOT IN (SELECT …) is not supported (a subquery cannot be negated)")
			}
			return p.inSub(l, start)
		}
		if p.peek().is("(") {
			return nil, posErr(p.peek().pos, "IN with a parenthesized list is not supported (use a JSON array string)")
		}
		r, err := p.value()
		if err != nil {
			return nil, err
		}
		if not && r.flags&^fRow != 0 {
			return nil, posErr(t.pos, "NOT IN over a parameter is not supported")
		}
		return p.span(&node{kind: nIn, not: not, l: l, r: r, flags: l.flags | r.flags}, start), nil
	case t.is("NOT"):
		return nil, p.unexpected(p.toks[p.i+1])
	}
	if t.kind != tEOF && !t.is("AND") && !t.is("OR") && !t.is(")") && !t.is(";") {
		return nil, p.unexpected(t)
	}
	return l, nil // a parenthesized condition, or a value the caller must compare
}

// isValue reports whether n is a value rather than a condition.
func isValue(n *node) bool {
	switch n.kind {
	case nLit, nCol, nUserID, nClaims, nClient, nBucket, nJSON:
		return true
	}
	return false
}

// condition checks that a WHERE clause is made of conditions only.
func condition(n *node, pos int) error {
	switch n.kind {
	case nAnd, nOr:
		for _, k := range n.kids {
			if err := condition(k, pos); err != nil {
				return err
			}
		}
		return nil
	case nNot:
		return condition(n.l, pos)
	case nCmp, nIsNull, nIn, nInSub:
		return nil
	}
	return posErr(pos, "%s alone is not a condition (compare it: = 1, IS NOT NULL, …)", n.src)
}

// inSub parses `(SELECT c FROM t [WHERE …])` after IN.
func (p *parser) inSub(l *node, start int) (*node, error) {
	if p.outer != "" {
		return nil, posErr(p.peek().pos, "a nested subquery is not supported (one level of IN (SELECT …))")
	}
	if p.mode != modeStream {
		return nil, posErr(p.peek().pos, "a subquery is not supported in sync rules (bucket_definitions)")
	}
	if l.kind != nCol {
		return nil, posErr(start, "IN (SELECT …) needs a column of the row on its left, found %s", l.src)
	}
	p.next() // (
	p.next() // SELECT
	ct := p.next()
	if ct.is("*") || ct.kind != tIdent && ct.kind != tQuoted {
		return nil, posErr(ct.pos, "the subquery must select one column, found %s", describe(ct))
	}
	qual, col := "", ct.text
	if p.accept(".") {
		c := p.next()
		if c.kind != tIdent && c.kind != tQuoted {
			return nil, posErr(c.pos, "expected a column after %s., found %s", ct.text, describe(c))
		}
		qual, col = ct.text, c.text
	}
	if p.peek().is("(") {
		return nil, posErr(ct.pos, "function %s() in a subquery is not supported", ct.text)
	}
	if p.accept("AS") {
		p.next()
	}
	if p.peek().is(",") {
		return nil, posErr(p.peek().pos, "the subquery must select exactly one column")
	}
	if err := p.expect("FROM"); err != nil {
		return nil, err
	}
	table, alias, err := p.from()
	if err != nil {
		return nil, err
	}
	if qual != "" && qual != table && qual != alias {
		return nil, posErr(ct.pos, "unknown table %s in the subquery", qual)
	}
	saved := *p
	p.outer, p.table, p.alias = p.table, table, alias
	sub := &subquery{table: table, column: col}
	if w := p.peek(); p.accept("WHERE") {
		if sub.where, err = p.or(); err != nil {
			return nil, err
		}
		if err := condition(sub.where, w.pos); err != nil {
			return nil, err
		}
	}
	p.outer, p.table, p.alias = saved.outer, saved.table, saved.alias
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	flags := l.flags | fSub
	if sub.where != nil {
		flags |= sub.where.flags &^ fRow
	}
	return p.span(&node{kind: nInSub, l: l, sub: sub, flags: flags}, start), nil
}

// value parses an operand that must be a value, not a condition.
func (p *parser) value() (*node, error) {
	pos := p.peek().pos
	x, err := p.unary()
	if err == nil && !isValue(x) {
		err = posErr(pos, "a condition cannot be compared (%s)", x.src)
	}
	return x, err
}

// unary parses a primary value and any -> / ->> steps after it.
func (p *parser) unary() (*node, error) {
	start := p.peek().pos
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peek().is("->") || p.peek().is("->>") {
		if !isValue(x) {
			return nil, posErr(p.peek().pos, "%s on a condition", p.peek().text)
		}
		op := p.next()
		k := p.next()
		var steps []pathStep
		switch k.kind {
		case tString:
			// As SQLite (3.45 on) reads it: a path when it starts with $, else one key, dots and all.
			if !strings.HasPrefix(k.text, "$") {
				steps = []pathStep{{key: k.text}}
			} else if steps, err = parsePath(k.text); err != nil {
				return nil, posErr(k.pos, "%v", err)
			}
		case tInt:
			n, err := strconv.Atoi(k.text)
			if err != nil {
				return nil, posErr(k.pos, "array index %s out of range", k.text)
			}
			steps = []pathStep{{index: n, isIdx: true}}
		default:
			return nil, posErr(k.pos, "expected a key ('k' or an index) after %s, found %s", op.text, describe(k))
		}
		x = p.span(&node{kind: nJSON, l: x, path: steps, text: op.text == "->>", flags: x.flags}, start)
	}
	return x, nil
}

func (p *parser) primary() (*node, error) {
	t := p.next()
	lit := func(v value) (*node, error) { return p.span(&node{kind: nLit, lit: v}, t.pos), nil }
	switch t.kind {
	case tString:
		return lit(value{k: kText, s: t.text})
	case tInt:
		return intLit(p, t, false)
	case tReal:
		f, _ := strconv.ParseFloat(t.text, 64)
		return lit(value{k: kReal, f: f})
	case tQuoted:
		return p.column("", t)
	case tOp:
		switch {
		case t.is("-") && (p.peek().kind == tInt || p.peek().kind == tReal):
			n := p.next()
			if n.kind == tInt {
				return intLit(p, n, true)
			}
			f, _ := strconv.ParseFloat(n.text, 64)
			return p.span(&node{kind: nLit, lit: value{k: kReal, f: -f}}, t.pos), nil
		case t.is("("):
			if p.peek().is("SELECT") {
				return nil, posErr(t.pos, "a subquery is only supported as IN (SELECT …)")
			}
			x, err := p.or()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			x.src = "(" + x.src + ")"
			return x, nil
		}
		return nil, p.unexpected(t)
	case tEOF:
		return nil, posErr(t.pos, "unexpected end of query")
	}
	up := strings.ToUpper(t.text)
	switch up {
	case "TRUE":
		return lit(value{k: kInt, i: 1})
	case "FALSE":
		return lit(value{k: kInt, i: 0})
	case "NULL":
		return lit(value{})
	case "ARRAY", "ROW":
		if p.peek().is("[") || p.peek().is("(") {
			return nil, posErr(t.pos, "%s literals are not supported (use a JSON array string)", up)
		}
	}
	if c, ok := unsupportedWords[up]; ok {
		return nil, posErr(t.pos, "%s is not supported", c)
	}
	if reserved[up] {
		return nil, p.unexpected(t)
	}
	if p.peek().is(".") {
		p.next()
		name := p.next()
		if name.kind != tIdent && name.kind != tQuoted {
			return nil, posErr(name.pos, "expected a name after %s., found %s", t.text, describe(name))
		}
		if p.peek().is("(") {
			return p.call(t, strings.ToLower(t.text)+"."+strings.ToLower(name.text))
		}
		return p.qualified(t, name)
	}
	if p.peek().is("(") {
		return p.call(t, strings.ToLower(t.text))
	}
	return p.column("", t)
}

func intLit(p *parser, t token, neg bool) (*node, error) {
	s := t.text
	if neg {
		s = "-" + s
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return p.span(&node{kind: nLit, lit: value{k: kInt, i: i}}, t.pos), nil
	}
	f, _ := strconv.ParseFloat(s, 64) // SQLite reads an integer literal past int64 as a real
	return p.span(&node{kind: nLit, lit: value{k: kReal, f: f}}, t.pos), nil
}

// call parses the parameter functions of the subset; fn is lower-case.
func (p *parser) call(t token, fn string) (*node, error) {
	p.next() // (
	var arg *token
	if !p.peek().is(")") {
		a := p.next()
		arg = &a
	}
	if err := p.expect(")"); err != nil {
		if arg != nil && arg.kind == tString {
			return nil, posErr(t.pos, "%s() takes at most one argument", fn)
		}
		return nil, err
	}
	n := &node{}
	needKey := func() (string, error) {
		if arg == nil || arg.kind != tString {
			return "", posErr(t.pos, "%s() takes one string argument", fn)
		}
		return arg.text, nil
	}
	noArg := func() error {
		if arg != nil {
			return posErr(t.pos, "%s() takes no argument", fn)
		}
		return nil
	}
	var err error
	switch fn {
	case "auth.user_id", "request.user_id":
		err = noArg()
		n.kind, n.flags = nUserID, fAuth
	case "auth.parameter":
		var k string
		k, err = needKey()
		n.kind, n.flags, n.path = nClaims, fAuth, []pathStep{{key: k}}
	case "auth.parameters", "request.jwt":
		err = noArg()
		n.kind, n.flags = nClaims, fAuth
	case "subscription.parameter", "connection.parameter":
		_, err = needKey()
		n.kind, n.flags = nClient, fClient
	case "subscription.parameters", "connection.parameters", "request.parameters":
		err = noArg()
		n.kind, n.flags = nClient, fClient
	default:
		return nil, posErr(t.pos, "function %s() is not supported", fn)
	}
	if err != nil {
		return nil, err
	}
	legacy := strings.HasPrefix(fn, "request.")
	switch {
	case legacy && p.mode == modeStream:
		return nil, posErr(t.pos, "%s() is sync rules syntax; streams use auth.*, subscription.* and connection.*", fn)
	case !legacy && p.mode != modeStream:
		return nil, posErr(t.pos, "%s() is sync streams syntax; bucket parameter queries use request.*", fn)
	case p.mode == modeData:
		return nil, posErr(t.pos, "%s() in a data query is not supported (data queries use bucket.*)", fn)
	}
	return p.span(n, t.pos), nil
}

// qualified resolves q.name: bucket.p, token_parameters.k, or table.column.
func (p *parser) qualified(q, name token) (*node, error) {
	switch strings.ToLower(q.text) {
	case "bucket":
		if p.mode != modeData {
			return nil, posErr(q.pos, "bucket.%s is only valid in a data query", name.text)
		}
		return p.span(&node{kind: nBucket, name: name.text, flags: fBucket}, q.pos), nil
	case "token_parameters":
		if p.mode != modeParam {
			return nil, posErr(q.pos, "token_parameters.%s is only valid in a parameter query", name.text)
		}
		if name.text == "user_id" {
			return p.span(&node{kind: nUserID, flags: fAuth}, q.pos), nil
		}
		// Legacy custom claims lived under the token's "parameters" claim.
		return p.span(&node{kind: nClaims, flags: fAuth, path: []pathStep{{key: "parameters"}, {key: name.text}}}, q.pos), nil
	case "auth", "subscription", "connection", "request":
		return nil, posErr(q.pos, "%s.%s is a function: write %s.%s(…)", q.text, name.text, q.text, name.text)
	}
	return p.column(q.text, name)
}

// column makes a column reference; a qualifier must name the query's table.
// Columns of a parameter query's items are resolved after FROM is read.
func (p *parser) column(qual string, t token) (*node, error) {
	n := p.span(&node{kind: nCol, name: t.text, flags: fRow}, t.pos)
	n.qual = qual
	if p.mode == modeParam && p.table == "" {
		return n, nil
	}
	return n, p.check(n, t.pos)
}

// check verifies a column's qualifier against the table in scope.
func (p *parser) check(n *node, pos int) error {
	if p.table == "" {
		return posErr(pos, "column %s in a query without FROM", n.name)
	}
	if qual := n.qual; qual != "" {
		if qual != p.table && qual != p.alias {
			if p.outer != "" && qual == p.outer {
				return posErr(pos, "a correlated subquery (reference to %s.%s) is not supported", qual, n.name)
			}
			return posErr(pos, "unknown table %s", qual)
		}
		n.qual = ""
	}
	return nil
}

// resolve checks the columns of an expression parsed before FROM was known.
func (p *parser) resolve(n *node) error {
	if n == nil {
		return nil
	}
	if n.kind == nCol {
		return p.check(n, 0)
	}
	if err := p.resolve(n.l); err != nil {
		return err
	}
	return p.resolve(n.r)
}

// parsePath reads a JSON path of the subset: $ followed by .key, ."key" and [n].
func parsePath(path string) ([]pathStep, error) {
	var steps []pathStep
	i := 1
	for i < len(path) {
		switch path[i] {
		case '.':
			i++
			if i < len(path) && path[i] == '"' {
				end := strings.IndexByte(path[i+1:], '"')
				if end < 0 {
					return nil, errPath(path)
				}
				steps = append(steps, pathStep{key: path[i+1 : i+1+end]})
				i += end + 2
				continue
			}
			j := i
			for j < len(path) && path[j] != '.' && path[j] != '[' {
				j++
			}
			if j == i {
				return nil, errPath(path)
			}
			steps = append(steps, pathStep{key: path[i:j]})
			i = j
		case '[':
			end := strings.IndexByte(path[i:], ']')
			if end < 0 {
				return nil, errPath(path)
			}
			n, err := strconv.Atoi(path[i+1 : i+end])
			if err != nil || n < 0 {
				return nil, errPath(path)
			}
			steps = append(steps, pathStep{index: n, isIdx: true})
			i += end + 1
		default:
			return nil, errPath(path)
		}
	}
	return steps, nil
}

func errPath(path string) error {
	return &sqlError{msg: "JSON path " + strconv.Quote(path) + " is not supported ($, .key, .\"key\", [n])"}
}
