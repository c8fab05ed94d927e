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

// ident is an identifier's name: unquoted ones are lower-cased, as
// PowerSync (like Postgres) reads them; quoted ones keep their case.
func ident(t token) string {
	if t.kind == tIdent {
		return strings.ToLower(t.text)
	}
	return t.text
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
			name = ident(t)
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
	table = ident(t)
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
		alias = ident(a)
	} else if a := p.peek(); a.kind == tQuoted || a.kind == tIdent && !reserved[strings.ToUpper(a.text)] &&
		unsupportedWords[strings.ToUpper(a.text)] == "" {
		p.next()
		alias = ident(a)
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
	if l.kind != nCol && l.kind != nUserID {
		return nil, posErr(start, "IN (SELECT …) needs a column of the row or auth.user_id() on its left, found %s", l.src)
	}
	p.next() // (
	p.next() // SELECT
	ct := p.next()
	if ct.is("*") || ct.kind != tIdent && ct.kind != tQuoted {
		return nil, posErr(ct.pos, "the subquery must select one column, found %s", describe(ct))
	}
	qual, col := "", ident(ct)
	if p.accept(".") {
		c := p.next()
		if c.kind != tIdent && c.kind != tQuoted {
			return nil, posErr(c.pos, "expected a column after %s., found %s", ct.text, describe(c))
		}
		qual, col = ident(ct), ident(c)
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
