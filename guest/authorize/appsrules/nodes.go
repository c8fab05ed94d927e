package appsrules

import (
	"fmt"
	"strconv"
	"strings"
)

// The compiled expression's nodes (expr.go compiles them) and the value
// tests of a field: what a decision evaluates.

type constNode bool

func (n constNode) eval(*env) (bool, error) { return bool(n), nil }
func (n constNode) String() string          { return strconv.FormatBool(bool(n)) }

type boolExp struct{ x *expansion }

func (n boolExp) eval(e *env) (bool, error) {
	v, ok := n.x.resolve(e)
	if !ok {
		return false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, fmt.Errorf("%s is %s, not a boolean", n.x.text, typeName(v))
	}
	return b, nil
}
func (n boolExp) String() string { return n.x.text }

// andNode holds when every member does ({} holds).
type andNode []node

func (n andNode) eval(e *env) (bool, error) {
	result := true
	for _, sub := range n {
		ok, err := sub.eval(e)
		if err != nil {
			return false, err
		}
		result = result && ok
	}
	return result, nil
}

func (n andNode) String() string {
	if len(n) == 0 {
		return "{}"
	}
	return join("%and", n)
}

// orNode holds when a member does; an error in any member is the result.
type orNode []node

func (n orNode) eval(e *env) (bool, error) {
	result := false
	for _, sub := range n {
		ok, err := sub.eval(e)
		if err != nil {
			return false, err
		}
		result = result || ok
	}
	return result, nil
}

func (n orNode) String() string { return join("%or", n) }

func join(op string, n []node) string {
	parts := make([]string, len(n))
	for i, sub := range n {
		parts[i] = sub.String()
	}
	return op + "[" + strings.Join(parts, ", ") + "]"
}

type testNode struct {
	left  *expansion
	test  valueTest
	shape shape // a usual test read from a ScalarDocument, told at load
}

// shape is a testNode's form when it is one a decision reads from a
// ScalarDocument without decoding the value: inside wasm the general path
// (resolve the expansion through the documents, decode and box the value,
// the test, the operand, the comparison) was a dozen calls.
type shape uint8

const (
	shapeGeneral     shape = iota
	shapeRootIsUser        // {"<field>": "%%user.id"} on %%root or %%prevRoot
	shapeThisIsUser        // {"%%this": "%%user.id"}
	shapeThisIsNull        // {"%%this": null}
	shapeRootNotUser       // {"<field>": {"$ne": "%%user.id"}} on %%root or %%prevRoot
)

// shapeOf tells the shape of a test of x.
func shapeOf(x *expansion, t valueTest) shape {
	if ne, isNe := t.(neTest); isNe && x.parent == nil && (x.kind == expRoot || x.kind == expPrevRoot) && len(x.path) == 1 &&
		!ne.v.static && ne.v.x != nil && ne.v.x.kind == expUser && ne.v.x.userID {
		return shapeRootNotUser
	}
	eq, isEq := t.(eqTest)
	if !isEq || x.parent != nil {
		return shapeGeneral
	}
	user := !eq.v.static && eq.v.x != nil && eq.v.x.kind == expUser && eq.v.x.userID
	switch {
	case (x.kind == expRoot || x.kind == expPrevRoot) && len(x.path) == 1 && user:
		return shapeRootIsUser
	case x.kind == expThis && len(x.path) == 0 && user:
		return shapeThisIsUser
	case x.kind == expThis && len(x.path) == 0 && eq.v.static && eq.v.lit == nil:
		return shapeThisIsNull
	}
	return shapeGeneral
}

// general evaluates the test: the expansion's value, then the test.
func (n *testNode) general(e *env) (bool, error) {
	v, ok := n.left.resolve(e)
	if !ok && n.left.parent != nil && n.left.parentMissing(e) { // no parent: no test holds, not even null or $exists false
		return false, nil
	}
	return n.test.test(v, ok, e)
}

func (n *testNode) String() string { return n.left.text + " " + n.test.String() }

// eval evaluates a test of a usual shape (n.shape) as general would, from
// the document's ScalarDocument, and leaves to general a value that is not
// a string or null (or a document that does not tell). It reads the
// documents itself, without a call (inside wasm each call costs).
func (n *testNode) eval(e *env) (bool, error) {
	if n.shape == shapeGeneral {
		return n.general(e)
	}
	var d *doc
	var field string
	if n.shape == shapeRootIsUser || n.shape == shapeRootNotUser {
		d, field = e.root, n.left.path[0]
		if n.left.kind == expPrevRoot {
			d = e.prevRoot
		}
	} else {
		td, isDoc := e.thisDoc.(*doc)
		if !isDoc && e.thisDoc != nil {
			return n.general(e)
		}
		d, field = td, e.field
	}
	var uid string
	if n.shape != shapeThisIsNull {
		// The operand first, as eqTest: no user id, no match.
		if e.user == nil || e.user.ID == "" {
			return false, nil
		}
		uid = e.user.ID
	}
	if d == nil { // an absent document: only {"%%this": null} holds
		return n.shape == shapeThisIsNull, nil
	}
	// The field from the documents (doc.Get's order), as scalars.
	var s string
	var kind ScalarKind
	present := true
	switch {
	case field == "_id":
		s, kind = d.id, ScalarString
	case d.over != nil && d.sover == nil:
		return n.general(e)
	default:
		found := false
		if d.over != nil {
			s, kind, found = d.sover.Scalar(field)
		}
		if !found {
			if d.sbase == nil {
				return n.general(e)
			}
			s, kind, present = d.sbase.Scalar(field)
		}
	}
	if n.shape == shapeRootNotUser { // neTest: a missing field fails; null differs
		switch {
		case !present:
			return false, nil
		case kind == ScalarNull:
			return true, nil
		case kind == ScalarString:
			return s != uid, nil
		}
		return n.general(e)
	}
	switch {
	case !present:
		return n.shape == shapeThisIsNull, nil // MongoDB: null matches a missing field
	case kind == ScalarNull:
		return n.shape == shapeThisIsNull, nil
	case kind == ScalarString:
		return n.shape != shapeThisIsNull && s == uid, nil
	}
	return n.general(e)
}

// newTestNode is a testNode, or for {$exists} on a top-level field of
// %%root, or on %%this or %%prev, an existsNode.
func newTestNode(x *expansion, t valueTest) node {
	want, isExists := t.(existsTest)
	if isExists && (x.kind == expRoot && len(x.path) == 1 || (x.kind == expThis || x.kind == expPrev) && len(x.path) == 0) {
		return &existsNode{testNode{left: x, test: t}, bool(want)}
	}
	return &testNode{left: x, test: t, shape: shapeOf(x, t)}
}

// existsNode is a testNode whose test is {$exists} on a field it can ask
// for without decoding its value: inside wasm a rule such as
// {"list_id": {"$exists": true}} was a string unquoted and boxed.
type existsNode struct {
	testNode
	want bool
}

func (n *existsNode) eval(e *env) (bool, error) {
	var present bool
	switch n.left.kind {
	case expRoot:
		present = e.root != nil && e.root.Has(n.left.path[0])
	case expThis:
		present = e.thisDoc != nil && hasField(e.thisDoc, e.field)
	default: // expPrev
		present = e.prevDoc != nil && hasField(e.prevDoc, e.field)
	}
	return present == n.want, nil
}

// hasField is has(x, k), asking a *doc without the assertion to an
// interface (a field rule's documents are mostly *doc).
func hasField(x Document, k string) bool {
	if d, isDoc := x.(*doc); isDoc {
		return d.Has(k)
	}
	if m, isMap := x.(Map); isMap { // none: %%prev of an insert
		if len(m) == 0 {
			return false
		}
		_, ok := m[k]
		return ok
	}
	return has(x, k)
}

// Tests. A missing value (the field or expansion tested, or the value it
// is compared with) fails every test except {$exists: false}; this is
// stricter than MongoDB for $ne and $nin, which match a missing field
// (docs/authorization.md, "Fail closed").

type valueTest interface {
	test(v any, present bool, e *env) (bool, error)
	String() string
}

type eqTest struct{ v *operand }

func (t eqTest) test(v any, present bool, e *env) (bool, error) {
	want, ok, err := t.v.lit, true, error(nil)
	if !t.v.static {
		if want, ok, err = t.v.value(e); err != nil || !ok {
			return false, err
		}
	}
	if !present { // MongoDB: {field: null} matches a missing field
		return t.v.static && want == nil, nil
	}
	return matches(v, want), nil
}
func (t eqTest) String() string { return "== " + t.v.String() }

type neTest struct{ v *operand }

func (t neTest) test(v any, present bool, e *env) (bool, error) {
	want, ok, err := t.v.lit, true, error(nil)
	if !t.v.static {
		want, ok, err = t.v.value(e)
	}
	if err != nil || !ok || !present {
		return false, err
	}
	return !matches(v, want), nil
}
func (t neTest) String() string { return "$ne " + t.v.String() }

type cmpTest struct {
	op string
	v  *operand
}

func (t cmpTest) test(v any, present bool, e *env) (bool, error) {
	want, ok, err := t.v.value(e)
	if err != nil || !ok || !present {
		return false, err
	}
	if arr, isArr := v.([]any); isArr {
		var firstErr error
		for _, el := range arr {
			hold, err := t.one(el, want)
			if err == nil && hold {
				return true, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return false, firstErr
	}
	return t.one(v, want)
}

func (t cmpTest) one(v, want any) (bool, error) {
	c, err := compare(v, want)
	if err != nil {
		return false, fmt.Errorf("%s: %w", t.op, err)
	}
	switch t.op {
	case "$gt":
		return c > 0, nil
	case "$gte":
		return c >= 0, nil
	case "$lt":
		return c < 0, nil
	}
	return c <= 0, nil
}

func (t cmpTest) String() string { return t.op + " " + t.v.String() }

type inTest struct {
	v   *operand
	not bool
}

func (t inTest) test(v any, present bool, e *env) (bool, error) {
	list, ok, err := t.v.value(e)
	if err != nil || !ok {
		return false, err
	}
	arr, isArr := list.([]any)
	if !isArr {
		return false, fmt.Errorf("%s: %s is %s, not an array", t.op(), t.v, typeName(list))
	}
	if !present {
		return false, nil
	}
	for _, want := range arr {
		if matches(v, want) {
			return !t.not, nil
		}
	}
	return t.not, nil
}

func (t inTest) op() string {
	if t.not {
		return "$nin"
	}
	return "$in"
}
func (t inTest) String() string { return t.op() + " " + t.v.String() }

type existsTest bool

func (t existsTest) test(_ any, present bool, _ *env) (bool, error) { return present == bool(t), nil }
func (t existsTest) String() string                                 { return "$exists " + strconv.FormatBool(bool(t)) }

type allTests []valueTest

func (ts allTests) test(v any, present bool, e *env) (bool, error) {
	result := true
	for _, t := range ts {
		ok, err := t.test(v, present, e)
		if err != nil {
			return false, err
		}
		result = result && ok
	}
	return result, nil
}

func (ts allTests) String() string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.String()
	}
	return strings.Join(parts, " and ")
}

// userOnly reports whether n reads nothing but %%user, %%values and
// literals: its value is the same for every decision by one user.
func userOnly(n node) bool {
	switch n := n.(type) {
	case constNode:
		return true
	case boolExp:
		return n.x.userOnly()
	case andNode:
		return allUserOnly(n)
	case orNode:
		return allUserOnly(n)
	case *testNode:
		return n.left.userOnly() && testUserOnly(n.test)
	}
	return false // existsNode, and anything new: read per decision
}

func allUserOnly(ns []node) bool {
	for _, sub := range ns {
		if !userOnly(sub) {
			return false
		}
	}
	return true
}

func testUserOnly(t valueTest) bool {
	switch t := t.(type) {
	case existsTest:
		return true
	case eqTest:
		return t.v.userOnly()
	case neTest:
		return t.v.userOnly()
	case cmpTest:
		return t.v.userOnly()
	case inTest:
		return t.v.userOnly()
	case allTests:
		for _, sub := range t {
			if !testUserOnly(sub) {
				return false
			}
		}
		return true
	}
	return false
}

func (x *expansion) userOnly() bool {
	switch x.kind {
	case expUser, expValues, expTrue, expFalse:
		return true
	}
	return false
}

func (o *operand) userOnly() bool {
	switch {
	case o.static:
		return true
	case o.x != nil:
		return o.x.userOnly()
	case o.conv != "":
		return o.arg.userOnly()
	}
	for _, a := range o.arr {
		if !a.userOnly() {
			return false
		}
	}
	for _, a := range o.obj {
		if !a.userOnly() {
			return false
		}
	}
	return true
}
