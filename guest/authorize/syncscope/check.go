package syncscope

import (
	"fmt"
	"strings"
)

// Input is one op to check.
type Input struct {
	Op    string // "PUT", "PATCH" or "DELETE"
	Table string
	// ID is the op's id: the document's id column when the documents carry
	// neither "id" nor "_id".
	ID string
	// Before is the stored document (nil when there is none); After the
	// document as the write leaves it (nil for DELETE). Both in the client's
	// JSON view: ObjectIds as hex strings, integers as int64 (or int,
	// json.Number), other numbers float64, nested values as map[string]any
	// and []any.
	Before, After map[string]any
	User          User
	// Parents returns the documents of table whose column equals value, as
	// earlier ops of the batch left them. The check re-tests each for SQL
	// equality, so returning extra documents never widens a scope.
	Parents func(table, column string, value any) []map[string]any
	// Explain fills Decision.Trace for an allowed op too.
	Explain bool
}

// User is the writer, from the verified token.
type User struct {
	ID     string
	Claims map[string]any
}

// Decision is the check's answer for one op.
type Decision struct {
	Allow bool
	// Stream names the stream or bucket that granted the write, or the first
	// one that covers the table and refused it.
	Stream string
	// Condition is the condition that failed (on a denial) or granted, as
	// written in the sync config.
	Condition string
	Reason    string
	// Open marks a denial because every stream or bucket that syncs the
	// table is open (Config.Open: no token condition), not because one
	// refused the document: the scope cannot decide, so a rule must (the
	// authorize guest lets rules files that allowed the write decide).
	Open  bool
	Trace []string
}

// Check decides whether a write keeps its document inside the writer's scope:
// a new document after the write, a document over a stored one before and
// after, a deleted one before. A table no stream or bucket syncs is refused.
func (c *Config) Check(in Input) Decision {
	rules := c.tables[in.Table]
	if len(rules) == 0 {
		return Decision{Reason: fmt.Sprintf("table %s is not in any stream or bucket", in.Table)}
	}
	type state struct {
		which string
		doc   map[string]any
	}
	var docs [2]state
	n := 0
	switch in.Op {
	case "PUT", "PATCH":
		if in.After == nil {
			return Decision{Reason: fmt.Sprintf("%s without the document after the write", in.Op)}
		}
		if in.Op == "PATCH" && in.Before == nil {
			// A PATCH never creates a document (the host rejects it); without
			// the stored document, its scope before the write is unknown.
			return Decision{Reason: "PATCH without the stored document"}
		}
		if in.Before != nil {
			docs[n] = state{"as stored", in.Before}
			n++
		}
		docs[n] = state{"after the write", in.After}
		n++
	case "DELETE":
		if in.Before == nil {
			// Nothing stored: the delete changes no one's data (a resent batch
			// deletes again what it deleted before).
			return Decision{Allow: true, Reason: "no stored document: the delete changes nothing"}
		}
		docs[n] = state{"as stored", in.Before}
		n++
	default:
		return Decision{Reason: fmt.Sprintf("unknown op %q", in.Op)}
	}
	var granted *rule
	for _, d := range docs[:n] {
		r, res := c.scope(rules, d.doc, &in, nil)
		if res != nil {
			// Denied: evaluate again with the trace on to explain it.
			var tr []string
			c.scope(rules, d.doc, &in, &tr)
			dec := Decision{Stream: res.rule.name, Condition: res.failed, Trace: tr}
			switch {
			case res.err != nil:
				dec.Reason = fmt.Sprintf("the document %s cannot be checked: %v", d.which, res.err)
			case res.open:
				dec.Open = true
				dec.Reason = fmt.Sprintf("table %s is open (synced without a token condition) — needs a rule", in.Table)
			default:
				dec.Reason = fmt.Sprintf("the document %s is outside the writer's scope", d.which)
			}
			return dec
		}
		granted = r
	}
	dec := Decision{Allow: true, Stream: granted.name, Condition: granted.cond, Reason: "inside the writer's scope"}
	if in.Explain {
		for _, d := range docs[:n] {
			c.scope(rules, d.doc, &in, &dec.Trace)
		}
	}
	return dec
}

func condText(r *rule) string {
	var parts []string
	for _, b := range r.params {
		if b.q.where != nil {
			parts = append(parts, b.q.where.src)
		}
	}
	if r.where != nil {
		parts = append(parts, r.where.src)
	}
	return strings.Join(parts, " AND ")
}

// failure describes why no rule granted a document.
type failure struct {
	rule   *rule
	failed string
	err    error
	open   bool
}

// scope returns the rule that puts doc in the writer's scope, or why none
// does. An evaluation error in any rule refuses: the check never guesses.
func (c *Config) scope(rules []*rule, doc map[string]any, in *Input, tr *[]string) (*rule, *failure) {
	var first *failure
	var granted *rule
	e := &env{}
	for _, r := range rules {
		*e = env{in: in, tr: tr, table: r.table, doc: doc}
		ok, failed, err := e.rule(r, doc)
		if err != nil {
			return nil, &failure{rule: r, failed: failed, err: err}
		}
		if ok && granted == nil {
			granted = r // the other rules still run: an error in any of them refuses
		}
		if !ok && first == nil && r.open == "" {
			first = &failure{rule: r, failed: failed}
		}
	}
	if granted != nil {
		return granted, nil
	}
	if first == nil {
		r := rules[0]
		return nil, &failure{rule: r, failed: r.open, open: true}
	}
	return nil, first
}

// env is the evaluation of one rule for one document.
type env struct {
	in     *Input
	row    map[string]any
	id     string // fallback id of row
	b      *binding
	bucket []value
	tr     *[]string
	claims map[string]any // claims with sub, built on first use
	table  string         // the table of the document being checked
	doc    map[string]any // the document being checked, in the state checked
}

// lookup returns the rows of table whose column may equal v. When table is
// the checked document's own, the document in the state being checked stands
// in for its stored version: a list's own owner_id decides whether the list
// is in scope after the write, not the stored one.
func (e *env) lookup(table, col string, raw any) []map[string]any {
	if table != e.table {
		return e.in.Parents(table, col, raw)
	}
	self, err := fromGo(column(e.doc, "_id", e.in.ID))
	if err != nil || self.k == kNull {
		return e.in.Parents(table, col, raw)
	}
	if col == "_id" || col == "id" {
		// The document's own key: the only row is the document itself.
		if v, err := fromGo(raw); err == nil {
			if t, err := cmpOp("=", v, self); err == nil && t == tTrue {
				return []map[string]any{e.self()}
			}
		}
	}
	rows := e.in.Parents(table, col, raw)
	out := make([]map[string]any, 0, len(rows)+1)
	for _, r := range rows {
		if same, err := e.same(r, "_id", self); err == nil && same {
			continue
		}
		out = append(out, r)
	}
	return append(out, e.self())
}

// self is the checked document as a row of its own table: with its key,
// which the op carries as Input.ID when the document does not (a
// PowerSync row's data has no id). Without it, a lookup that finds the
// document itself (a legacy parameter query FROM the document's own
// table) would see a row whose key is NULL, and select nothing.
func (e *env) self() map[string]any {
	if _, ok := e.doc["_id"]; ok || e.in.ID == "" {
		return e.doc
	}
	if _, ok := e.doc["id"]; ok {
		return e.doc
	}
	row := make(map[string]any, len(e.doc)+1)
	for k, v := range e.doc {
		row[k] = v
	}
	row["_id"] = e.in.ID
	return row
}

func (e *env) trace(format string, args ...any) {
	if e.tr != nil {
		*e.tr = append(*e.tr, fmt.Sprintf(format, args...))
	}
}

// rule reports whether r grants doc, and on refusal the condition that failed.
func (e *env) rule(r *rule, doc map[string]any) (bool, string, error) {
	if !r.bucket {
		e.row, e.id = doc, e.in.ID
		at := 0
		if e.tr != nil {
			at = len(*e.tr)
		}
		t, g, err := e.cond(r.where)
		if e.tr != nil {
			// The rule's line goes before the lines of its lookups.
			line := fmt.Sprintf("%s (%s): %s → %s", r.label, r.table, srcOf(r.where), verdict(t, g, err))
			*e.tr = append((*e.tr)[:at], append([]string{line}, (*e.tr)[at:]...)...)
		}
		if err != nil || g {
			return g, srcOf(r.where), err
		}
		return false, e.failedPart(r.where), nil
	}
	if len(r.params) == 0 {
		if e.tr != nil {
			e.trace("%s (%s): global bucket → open, grants no write", r.label, r.table)
		}
		return false, "global bucket", nil
	}
	failed := ""
	for _, b := range r.params {
		ok, why, err := e.bucketParams(r, b, doc)
		if err != nil {
			if e.tr != nil {
				e.trace("%s (%s): %s → error: %v", r.label, r.table, why, err)
			}
		}
		if err != nil || ok {
			return ok, why, err
		}
		if failed == "" {
			failed = why
		}
	}
	return false, failed, nil
}

// failedPart names the first conjunct that is not true, else the whole condition.
func (e *env) failedPart(where *node) string {
	if where == nil {
		return "(no WHERE)"
	}
	if where.kind == nAnd {
		saved := e.tr
		e.tr = nil
		defer func() { e.tr = saved }()
		for _, k := range where.kids {
			if t, _, err := e.cond(k); err == nil && t != tTrue {
				return k.src
			}
		}
	}
	return where.src
}

func srcOf(n *node) string {
	if n == nil {
		return "(no WHERE)"
	}
	return n.src
}

func verdict(t tri, g bool, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case g:
		return "true (grants)"
	case t == tTrue:
		return "true, but through no token condition (grants nothing)"
	case t == tNull:
		return "NULL"
	}
	return "false"
}

// bucketParams evaluates a legacy bucket: some parameter row of the writer
// must make the data query true, through a condition on the token.
func (e *env) bucketParams(r *rule, b *binding, doc map[string]any) (bool, string, error) {
	pq := b.q
	try := func(prow map[string]any) (bool, string, error) {
		e.row, e.id, e.b = prow, "", b
		vals := make([]value, len(pq.items))
		for i, it := range pq.items {
			v, err := e.expr(it.x)
			if err != nil {
				return false, it.x.src, err
			}
			vals[i] = v
		}
		tp, gp, err := e.cond(pq.where)
		if err != nil {
			return false, srcOf(pq.where), err
		}
		e.row, e.id, e.bucket = doc, e.in.ID, vals
		td, gd, err := e.cond(r.where)
		if err != nil {
			return false, srcOf(r.where), err
		}
		g := gp && td == tTrue || tp == tTrue && gd
		if e.tr != nil {
			e.trace("%s (%s): parameters %s → %s; data %s → %s", r.label, r.table, srcOf(pq.where), verdict(tp, gp, nil), srcOf(r.where), verdict(td, gd, nil))
		}
		switch {
		case g:
			return true, "", nil
		case tp != tTrue:
			return false, srcOf(pq.where), nil
		}
		return false, srcOf(r.where), nil
	}
	if pq.table == "" {
		return try(nil)
	}
	var raw any
	if b.byUser {
		if e.in.User.ID != "" {
			raw = e.in.User.ID
		}
	} else {
		raw = column(doc, b.child, e.in.ID)
	}
	lv, err := fromGo(raw)
	if err != nil {
		return false, b.child, fmt.Errorf("column %s: %w", b.child, err)
	}
	cond := "" // the condition that failed; by default, finding a parameter row
	noRow := func() string {
		if cond != "" {
			return cond
		}
		if b.byUser {
			return pq.table + " row with " + b.parent + " = request.user_id()"
		}
		return pq.table + " row with " + b.parent + " = " + r.table + "." + b.child
	}
	if lv.k == kNull {
		if e.tr != nil {
			e.trace("%s (%s): %s is NULL → no parameter row", r.label, r.table, b.child)
		}
		return false, noRow(), nil
	}
	if e.in.Parents == nil {
		return false, noRow(), fmt.Errorf("no parent lookup for %s", pq.table)
	}
	rows := e.lookup(pq.table, b.parent, raw)
	matched := 0
	for _, p := range rows {
		eq, err := e.same(p, b.parent, lv)
		if err != nil {
			return false, noRow(), err
		}
		if !eq {
			continue
		}
		matched++
		ok, why, err := try(p)
		if err != nil || ok {
			return ok, why, err
		}
		cond = why
	}
	if matched == 0 {
		if e.tr != nil {
			e.trace("%s (%s): no %s row with %s = %s", r.label, r.table, pq.table, b.parent, lv.show())
		}
	}
	return false, noRow(), nil
}

// same reports whether a looked-up row's column is SQL-equal to v.
func (e *env) same(row map[string]any, col string, v value) (bool, error) {
	pv, err := fromGo(column(row, col, ""))
	if err != nil {
		return false, fmt.Errorf("%s: %w", col, err)
	}
	t, err := cmpOp("=", pv, v)
	return t == tTrue, err
}

// column reads a column of a document; id and _id both name the document key.
func column(row map[string]any, name, id string) any {
	if v, ok := row[name]; ok {
		return v
	}
	switch name {
	case "id", "_id":
		other := "_id"
		if name == "_id" {
			other = "id"
		}
		if v, ok := row[other]; ok {
			return v
		}
		if id != "" {
			return id
		}
	}
	return nil
}

// cond evaluates a condition: its SQL truth, with client-chosen values taken
// as whatever makes them true, and whether it is true through a condition on
// the token (g). A nil condition is true and grants nothing.
func (e *env) cond(n *node) (tri, bool, error) {
	if n == nil {
		return tTrue, false, nil
	}
	switch n.kind {
	case nAnd:
		t, g := tTrue, false
		for _, k := range n.kids {
			tk, gk, err := e.cond(k)
			if err != nil {
				return tFalse, false, err
			}
			g = g && tk == tTrue || t == tTrue && gk
			t = and3(t, tk)
			if t == tFalse {
				return tFalse, false, nil
			}
		}
		return t, g && t == tTrue, nil
	case nOr:
		t, g := tFalse, false
		for _, k := range n.kids {
			tk, gk, err := e.cond(k)
			if err != nil {
				return tFalse, false, err
			}
			t, g = or3(t, tk), g || gk
			if g {
				return tTrue, true, nil
			}
		}
		return t, g, nil
	case nNot:
		t, _, err := e.cond(n.l)
		return not3(t), false, err
	case nInSub:
		return e.inSub(n)
	}
	if clientRef(n, e.b) {
		return e.clientTruth(n)
	}
	t, err := e.pred(n)
	if err != nil {
		return tFalse, false, err
	}
	return t, t == tTrue && authAtom(n, e.b), nil
}

// clientTruth is a predicate on a client-chosen value: the client can make it
// true unless the other side is NULL. It never grants.
func (e *env) clientTruth(n *node) (tri, bool, error) {
	if n.kind != nCmp && n.kind != nIn {
		return tTrue, false, nil
	}
	other := n.l
	if clientRef(n.l, e.b) {
		other = n.r
	}
	if clientRef(other, e.b) {
		return tTrue, false, nil
	}
	v, err := e.expr(other)
	if err != nil {
		return tFalse, false, err
	}
	if v.k == kNull {
		return tNull, false, nil
	}
	return tTrue, false, nil
}

// pred evaluates a comparison, IS [NOT] NULL or IN over a JSON array.
func (e *env) pred(n *node) (tri, error) {
	l, err := e.expr(n.l)
	if err != nil {
		return tFalse, err
	}
	switch n.kind {
	case nIsNull:
		return truth((l.k == kNull) != n.not), nil
	case nCmp, nIn:
		r, err := e.expr(n.r)
		if err != nil {
			return tFalse, err
		}
		if n.kind == nCmp {
			return cmpOp(n.op, l, r)
		}
		t, err := inArray(l, r)
		if n.not {
			t = not3(t)
		}
		return t, err
	}
	return tFalse, fmt.Errorf("%s is not a condition", n.src)
}

// inSub evaluates col IN (SELECT c FROM t WHERE …) over the looked-up rows.
func (e *env) inSub(n *node) (tri, bool, error) {
	var raw any
	if n.l.kind == nUserID {
		if e.in.User.ID != "" {
			raw = e.in.User.ID
		}
	} else {
		raw = column(e.row, n.l.name, e.id)
	}
	lv, err := fromGo(raw)
	if err != nil {
		return tFalse, false, fmt.Errorf("column %s: %w", n.l.name, err)
	}
	if lv.k == kNull {
		if e.tr != nil {
			e.trace("  %s: %s is NULL", n.src, n.l.name)
		}
		return tNull, false, nil
	}
	if e.in.Parents == nil {
		return tFalse, false, fmt.Errorf("no parent lookup for %s", n.sub.table)
	}
	rows := e.lookup(n.sub.table, n.sub.column, raw)
	row, id, b, bucket := e.row, e.id, e.b, e.bucket
	t, g, err := e.parentRows(n, rows, lv)
	e.row, e.id, e.b, e.bucket = row, id, b, bucket
	if n.l.kind == nUserID {
		// auth.user_id() IN (SELECT …): finding the writer is the token condition.
		g = t == tTrue
	}
	return t, g, err
}

// parentRows is inSub over the looked-up rows.
func (e *env) parentRows(n *node, rows []map[string]any, lv value) (tri, bool, error) {
	t, found := tFalse, 0
	for _, p := range rows {
		eq, err := e.same(p, n.sub.column, lv)
		if err != nil {
			return tFalse, false, err
		}
		if !eq {
			continue
		}
		found++
		e.row, e.id, e.b, e.bucket = p, "", nil, nil
		tp, gp, err := e.cond(n.sub.where)
		if err != nil {
			return tFalse, false, err
		}
		if e.tr != nil {
			e.trace("  %s row with %s = %s: %s → %s", n.sub.table, n.sub.column, lv.show(), srcOf(n.sub.where), verdict(tp, gp, nil))
		}
		if tp == tTrue {
			t = tTrue
			if gp {
				return tTrue, true, nil
			}
		}
	}
	if found == 0 {
		if e.tr != nil {
			e.trace("  no %s row with %s = %s", n.sub.table, n.sub.column, lv.show())
		}
	}
	// NULL and false differ only under NOT, which a subquery never is under.
	return t, false, nil
}

// expr evaluates a value expression.
func (e *env) expr(n *node) (value, error) {
	switch n.kind {
	case nLit:
		return n.lit, nil
	case nCol:
		v, err := fromGo(column(e.row, n.name, e.id))
		if err != nil {
			return value{}, fmt.Errorf("column %s: %w", n.name, err)
		}
		return v, nil
	case nUserID:
		if e.in.User.ID == "" {
			return value{}, nil
		}
		return value{k: kText, s: e.in.User.ID}, nil
	case nClaims:
		claims := e.claimsWithSub()
		if len(n.path) == 0 {
			return value{k: kText, j: claims}, nil
		}
		x, ok := walk(claims, n.path)
		if !ok {
			return value{}, nil
		}
		v, err := extract(x, true)
		if err != nil {
			return value{}, fmt.Errorf("claim %s: %w", n.path[0].key, err)
		}
		return v, nil
	case nClient:
		return value{}, nil // a bucket parameter the client chooses: its predicates never grant
	case nBucket:
		if e.b != nil {
			for i, it := range e.b.q.items {
				if it.name == n.name && i < len(e.bucket) {
					return e.bucket[i], nil
				}
			}
		}
		return value{}, fmt.Errorf("bucket.%s has no value", n.name)
	case nJSON:
		x, err := e.expr(n.l)
		if err != nil || x.k == kNull {
			return value{}, err
		}
		j, err := jsonOf(x)
		if err != nil {
			return value{}, fmt.Errorf("%s: %w", n.src, err)
		}
		sub, ok := walk(j, n.path)
		if !ok {
			return value{}, nil
		}
		return extract(sub, n.text)
	}
	return value{}, fmt.Errorf("%s is not a value", n.src)
}

// claimsWithSub is the token's payload, with sub set to the user id when the
// claims lack it.
func (e *env) claimsWithSub() map[string]any {
	if e.claims != nil {
		return e.claims
	}
	cl := e.in.User.Claims
	if _, ok := cl["sub"]; !ok && e.in.User.ID != "" {
		m := make(map[string]any, len(cl)+1)
		for k, v := range cl {
			m[k] = v
		}
		m["sub"] = e.in.User.ID
		cl = m
	}
	if cl == nil {
		cl = map[string]any{}
	}
	e.claims = cl
	return cl
}
