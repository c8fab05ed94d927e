package syncscope

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is a parsed sync config: for each table, the stream queries and
// bucket data queries that sync its rows.
type Config struct {
	name   string
	tables map[string][]*rule
	open   []Open
	refs   []Reference
}

// Open is a stream or bucket query that syncs rows without any condition on
// the token: its rows are everyone's (or any client's choosing), so it never
// lets anyone write them. The host logs these at load: they need a rule.
type Open struct {
	Stream string // stream or bucket name
	Table  string
	Line   int
	Reason string
}

// Reference is a parent document a check looks at: rows of Table are in scope
// through rows of Parent whose ParentColumn equals the child's Column. The
// host fetches them with one query per Parent per batch:
// {ParentField: {$in: [the Column values of the batch's documents]}}.
type Reference struct {
	Table        string // child table
	Column       string // child column whose value is looked up
	Parent       string // parent table
	ParentColumn string // as the sync config names it ("id" for the document key)
	ParentField  string // the MongoDB field: "_id" for id and _id, else ParentColumn
	Stream       string // the first stream or bucket that needs it
	// ByUser: the value looked up is the writer's user id, not a child
	// column (auth.user_id() IN (SELECT …), or a parameter query found by
	// its_column = request.user_id()); Column is then "".
	ByUser bool
}

// rule is one stream query, or one bucket data query with the bucket's
// parameter queries, for one table.
type rule struct {
	label string // `stream "lists"` or `bucket "owned_lists"`
	name  string
	table string
	line  int
	where *node
	// legacy buckets only
	bucket bool
	params []*binding
	open   string // why the rule syncs rows without a token condition; "" when it never does
	cond   string // its conditions as written, for an allowed op's Decision
}

// binding is one parameter query of a bucket as one data query uses it.
type binding struct {
	q       *query
	classes []uint8 // per item: fAuth, fClient or fRow (a row value or literal)
	// For a parameter query FROM a table: the data query's column whose value
	// finds the parameter rows, and the parameter table's column it equals.
	child, parent string
	byUser        bool // the rows are found by parent = the writer's user id instead
}

// Parse reads a PowerSync sync config (Sync Streams and/or legacy
// bucket_definitions). name labels errors. Anything outside the supported
// subset is an error naming the construct and its line.
func Parse(name string, src []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("syncscope: %s: %w", name, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("syncscope: %s: empty sync config", name)
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("syncscope: %s:%d: the sync config must be a mapping", name, top.Line)
	}
	c := &Config{name: name, tables: map[string][]*rule{}}
	found := false
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		var err error
		switch k.Value {
		case "config", "event_definitions", "client_auth":
			// Edition and compatibility flags, write-checkpoint events: neither changes who syncs a row.
		case "streams":
			found = true
			err = c.streams(v)
		case "bucket_definitions":
			found = true
			err = c.buckets(v)
		case "with":
			err = c.errf(k.Line, "", "with (shared CTEs) is not supported")
		default:
			err = c.errf(k.Line, "", "unknown key %q", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, fmt.Errorf("syncscope: %s: neither streams nor bucket_definitions", name)
	}
	sort.SliceStable(c.refs, func(i, j int) bool { return c.refs[i].Parent < c.refs[j].Parent })
	return c, nil
}

func (c *Config) errf(line int, where, format string, args ...any) error {
	if where != "" {
		where += ": "
	}
	return fmt.Errorf("syncscope: %s:%d: %s%s", c.name, line, where, fmt.Sprintf(format, args...))
}

// References lists each parent lookup the checks make, once per
// (Table, Column, Parent, ParentColumn).
func (c *Config) References() []Reference { return append([]Reference(nil), c.refs...) }

// Open lists the queries that sync rows to users without a token condition.
func (c *Config) Open() []Open { return append([]Open(nil), c.open...) }

// Tables lists the tables the config syncs, sorted.
func (c *Config) Tables() []string {
	out := make([]string, 0, len(c.tables))
	for t := range c.tables {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func mapping(n *yaml.Node) bool { return n.Kind == yaml.MappingNode }

func (c *Config) streams(n *yaml.Node) error {
	if !mapping(n) {
		return c.errf(n.Line, "", "streams must be a mapping of stream names")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, def := n.Content[i].Value, n.Content[i+1]
		label := fmt.Sprintf("stream %q", name)
		if !mapping(def) {
			return c.errf(def.Line, label, "a stream must be a mapping (query, queries, auto_subscribe, …)")
		}
		var queries []*yaml.Node
		for j := 0; j+1 < len(def.Content); j += 2 {
			k, v := def.Content[j], def.Content[j+1]
			switch k.Value {
			case "query":
				queries = append(queries, v)
			case "queries":
				if v.Kind != yaml.SequenceNode {
					return c.errf(v.Line, label, "queries must be a list")
				}
				queries = append(queries, v.Content...)
			case "with":
				return c.errf(k.Line, label, "with (CTE) is not supported")
			case "auto_subscribe", "accept_potentially_dangerous_queries":
				if v.Tag != "!!bool" {
					return c.errf(v.Line, label, "%s must be true or false", k.Value)
				}
			case "priority":
				if v.Tag != "!!int" {
					return c.errf(v.Line, label, "priority must be an integer")
				}
			default:
				return c.errf(k.Line, label, "unknown stream key %q", k.Value)
			}
		}
		if len(queries) == 0 {
			return c.errf(def.Line, label, "no query")
		}
		for _, qn := range queries {
			q, line, err := c.sql(qn, modeStream, label)
			if err != nil {
				return err
			}
			c.add(&rule{label: label, name: name, table: q.table, line: line, where: q.where})
		}
	}
	return nil
}

// sql parses one query held by a YAML scalar, mapping error offsets to lines.
func (c *Config) sql(n *yaml.Node, m mode, label string) (*query, int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return nil, n.Line, c.errf(n.Line, label, "a query must be a string")
	}
	first := n.Line
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		first++
	}
	q, err := parseQuery(n.Value, m)
	if err != nil {
		line := first
		var se *sqlError
		if errors.As(err, &se) && n.Style&yaml.LiteralStyle != 0 {
			line += strings.Count(n.Value[:min(se.pos, len(n.Value))], "\n")
		}
		return nil, first, c.errf(line, label, "%v", err)
	}
	return q, first, nil
}

func (c *Config) add(r *rule) {
	r.cond = condText(r)
	c.tables[r.table] = append(c.tables[r.table], r)
	if r.open = r.openReason(); r.open != "" {
		c.open = append(c.open, Open{Stream: r.name, Table: r.table, Line: r.line, Reason: r.open})
	}
	var walkRefs func(n *node)
	walkRefs = func(n *node) {
		if n == nil {
			return
		}
		if n.kind == nInSub {
			if n.l.kind == nUserID {
				c.ref(Reference{Table: r.table, Parent: n.sub.table, ParentColumn: n.sub.column, Stream: r.name, ByUser: true})
			} else if !(n.sub.table == r.table && isKey(n.l.name) && isKey(n.sub.column)) {
				// (A row's own key in its own table finds the row itself: no lookup.)
				c.ref(Reference{Table: r.table, Column: n.l.name, Parent: n.sub.table, ParentColumn: n.sub.column, Stream: r.name})
			}
		}
		walkRefs(n.l)
		walkRefs(n.r)
		for _, k := range n.kids {
			walkRefs(k)
		}
	}
	walkRefs(r.where)
	for _, b := range r.params {
		if b.q.table != "" && !(b.q.table == r.table && isKey(b.child) && isKey(b.parent)) {
			c.ref(Reference{Table: r.table, Column: b.child, Parent: b.q.table, ParentColumn: b.parent, Stream: r.name, ByUser: b.byUser})
		}
	}
}

// isKey reports whether a column names the document key.
func isKey(col string) bool { return col == "id" || col == "_id" }

func (c *Config) ref(r Reference) {
	r.ParentField = r.ParentColumn
	if r.ParentColumn == "id" {
		r.ParentField = "_id"
	}
	for _, o := range c.refs {
		if o.Table == r.Table && o.Column == r.Column && o.Parent == r.Parent && o.ParentColumn == r.ParentColumn && o.ByUser == r.ByUser {
			return
		}
	}
	c.refs = append(c.refs, r)
}

func (c *Config) buckets(n *yaml.Node) error {
	if !mapping(n) {
		return c.errf(n.Line, "", "bucket_definitions must be a mapping of bucket names")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, def := n.Content[i].Value, n.Content[i+1]
		label := fmt.Sprintf("bucket %q", name)
		if !mapping(def) {
			return c.errf(def.Line, label, "a bucket definition must be a mapping (parameters, data)")
		}
		var params, data []*yaml.Node
		for j := 0; j+1 < len(def.Content); j += 2 {
			k, v := def.Content[j], def.Content[j+1]
			switch k.Value {
			case "parameters":
				if v.Kind == yaml.SequenceNode {
					params = append(params, v.Content...)
				} else {
					params = append(params, v)
				}
			case "data":
				if v.Kind != yaml.SequenceNode {
					return c.errf(v.Line, label, "data must be a list of queries")
				}
				data = append(data, v.Content...)
			case "priority", "accept_potentially_dangerous_queries":
			default:
				return c.errf(k.Line, label, "unknown bucket key %q", k.Value)
			}
		}
		if len(data) == 0 {
			return c.errf(def.Line, label, "no data queries")
		}
		var pqs []*query
		var plines []int
		for _, pn := range params {
			q, line, err := c.sql(pn, modeParam, label)
			if err != nil {
				return err
			}
			if len(pqs) > 0 && !sameOutputs(pqs[0], q) {
				return c.errf(line, label, "parameter queries must select the same columns")
			}
			pqs, plines = append(pqs, q), append(plines, line)
		}
		for _, dn := range data {
			q, line, err := c.sql(dn, modeData, label)
			if err != nil {
				return err
			}
			r := &rule{label: label, name: name, table: q.table, line: line, where: q.where, bucket: true}
			for pi, pq := range pqs {
				b, err := bind(pq, q)
				if err != nil {
					return c.errf(plines[pi], label, "%v", err)
				}
				r.params = append(r.params, b)
			}
			if len(pqs) == 0 {
				if n := firstBucketRef(q.where); n != nil {
					return c.errf(line, label, "bucket.%s in a bucket without parameter queries", n.name)
				}
			}
			c.add(r)
		}
	}
	return nil
}

func sameOutputs(a, b *query) bool {
	if len(a.items) != len(b.items) {
		return false
	}
	for i := range a.items {
		if a.items[i].name != b.items[i].name {
			return false
		}
	}
	return true
}

// bind checks a data query against a parameter query and, for a parameter
// query FROM a table, finds the data column that locates its rows.
func bind(pq, data *query) (*binding, error) {
	b := &binding{q: pq}
	names := map[string]bool{}
	for _, it := range pq.items {
		names[it.name] = true
		cl := fRow
		switch {
		case it.x.flags&fClient != 0:
			cl = fClient
		case it.x.flags&fAuth != 0:
			cl = fAuth
		}
		b.classes = append(b.classes, cl)
	}
	used := map[string]bool{}
	var err error
	var walk func(n *node)
	walk = func(n *node) {
		if n == nil {
			return
		}
		if n.kind == nBucket {
			if !names[n.name] && err == nil {
				err = fmt.Errorf("data query on %s uses bucket.%s, which the parameter query does not select", data.table, n.name)
			}
			used[n.name] = true
		}
		walk(n.l)
		walk(n.r)
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(data.where)
	if err != nil {
		return nil, err
	}
	for _, it := range pq.items {
		if !used[it.name] {
			return nil, fmt.Errorf("data query on %s does not use bucket.%s (every data query must use every bucket parameter)", data.table, it.name)
		}
	}
	if pq.table == "" {
		return b, nil
	}
	for _, n := range conjuncts(data.where) {
		if n.kind != nCmp || n.op != "=" {
			continue
		}
		col, bk := n.l, n.r
		if col.kind != nCol {
			col, bk = bk, col
		}
		if col.kind != nCol || bk.kind != nBucket {
			continue
		}
		for _, it := range pq.items {
			if it.name == bk.name && it.x.kind == nCol {
				b.child, b.parent = col.name, it.x.name
				return b, nil
			}
		}
	}
	// No data column finds the rows: the writer's own row may (FROM users WHERE users.id = request.user_id()).
	for _, n := range conjuncts(pq.where) {
		if n.kind != nCmp || n.op != "=" {
			continue
		}
		col, u := n.l, n.r
		if col.kind != nCol {
			col, u = u, col
		}
		if col.kind == nCol && u.kind == nUserID {
			b.byUser, b.parent = true, col.name
			return b, nil
		}
	}
	return nil, fmt.Errorf("the rows of %s cannot be found: compare a column of %s with a bucket parameter selected as a plain column of %s (col = bucket.p), or select them by %s.col = request.user_id(), at the top level of a WHERE", pq.table, data.table, pq.table, pq.table)
}

// conjuncts lists the top-level AND terms of a condition.
func conjuncts(n *node) []*node {
	switch {
	case n == nil:
		return nil
	case n.kind == nAnd:
		return n.kids
	}
	return []*node{n}
}

func firstBucketRef(n *node) *node {
	if n == nil {
		return nil
	}
	if n.kind == nBucket {
		return n
	}
	for _, k := range append([]*node{n.l, n.r}, n.kids...) {
		if f := firstBucketRef(k); f != nil {
			return f
		}
	}
	return nil
}

// openReason says why a rule syncs rows without a condition on the token, or
// "" when every way it syncs a row goes through one.
func (r *rule) openReason() string {
	if !r.bucket {
		if hasOpen(r.where, nil) {
			return why(r.where)
		}
		return ""
	}
	if len(r.params) == 0 {
		return "global bucket: every user syncs these rows"
	}
	for _, b := range r.params {
		if hasOpen(b.q.where, nil) && hasOpen(r.where, b) {
			if b.q.where != nil && b.q.where.flags&fClient != 0 || r.where != nil && clientRef(r.where, b) {
				return "depends only on client-chosen parameters"
			}
			for _, it := range b.q.items {
				if it.x.flags&fClient != 0 {
					return "depends only on client-chosen parameters"
				}
			}
			return "no condition on the token: every user syncs these rows"
		}
	}
	return ""
}

func why(where *node) string {
	switch {
	case where == nil || where.flags&(fClient|fAuth) == 0:
		return "no condition on the token: every user syncs these rows"
	case where.flags&fAuth == 0:
		return "depends only on client-chosen parameters"
	case where.flags&fClient != 0:
		return "a branch of its condition depends only on client-chosen parameters or row values"
	}
	return "a branch of its condition tests no token value"
}

// hasOpen reports whether a condition has a way to be true (a disjunct) that
// involves no condition on the token. b classifies bucket parameters.
func hasOpen(n *node, b *binding) bool {
	if n == nil {
		return true
	}
	switch n.kind {
	case nAnd:
		for _, k := range n.kids {
			if !hasOpen(k, b) {
				return false
			}
		}
		return true
	case nOr:
		for _, k := range n.kids {
			if hasOpen(k, b) {
				return true
			}
		}
		return false
	case nInSub:
		if n.l.kind == nUserID {
			return false
		}
		return hasOpen(n.sub.where, nil)
	}
	return !authAtom(n, b)
}

// authAtom reports whether a predicate is a condition on the token: it uses
// the token (directly or through a bucket parameter taken from it) and no
// client-chosen value.
func authAtom(n *node, b *binding) bool {
	if clientRef(n, b) {
		return false
	}
	if n.kind == nIsNull && n.l.kind == nUserID {
		return false // every token has a subject: this tells no user from another
	}
	return n.flags&fAuth != 0 || bucketClass(n, b)&fAuth != 0
}

// clientRef reports whether a node uses a client-chosen value.
func clientRef(n *node, b *binding) bool {
	return n.flags&fClient != 0 || bucketClass(n, b)&fClient != 0
}

// bucketClass ORs the classes of the bucket parameters a node uses.
func bucketClass(n *node, b *binding) uint8 {
	if n == nil || b == nil || n.flags&fBucket == 0 {
		return 0
	}
	if n.kind == nBucket {
		for i, it := range b.q.items {
			if it.name == n.name {
				return b.classes[i]
			}
		}
		return 0
	}
	cl := bucketClass(n.l, b) | bucketClass(n.r, b)
	for _, k := range n.kids {
		cl |= bucketClass(k, b)
	}
	return cl
}

// Streams lists, in the config's order, the streams and bucket queries that
// sync table's rows, each as `stream "name"` or `bucket "name"` with its
// conditions as written ("" when it has none).
func (c *Config) Streams(table string) (labels, conditions []string) {
	for _, r := range c.tables[table] {
		labels = append(labels, r.label)
		conditions = append(conditions, r.cond)
	}
	return labels, conditions
}
