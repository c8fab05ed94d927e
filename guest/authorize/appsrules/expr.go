package appsrules

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// An expression is compiled once, at load, into a tree of nodes; every
// construct the package does not implement is a load error there, so
// evaluation only meets the operators below. Evaluation has three outcomes:
// true, false, or an error (a type error, a conversion of a malformed
// value). An error anywhere in a clause makes the clause fail, even under
// %or: a rule that cannot be evaluated never allows a write.

type node interface {
	eval(e *env) (bool, error)
	String() string
}

// env is what expansions read during one decision.
type env struct {
	user           *User
	root, prevRoot *doc // nil: absent (%%prevRoot on insert)
	// In a field rule: the document after and before the write, and the
	// field (%%this, %%prev); nil outside field rules.
	thisDoc, prevDoc Document
	field            string
	values           map[string]any
	userID           any // %%user.id, boxed once per decision
	// parents are the documents %%parent and %%prevParent read, by
	// collection (Input.Parents).
	parents map[string][]map[string]any
}

type expKind uint8

const (
	expRoot expKind = iota
	expPrevRoot
	expUser
	expThis
	expPrev
	expValues
	expTrue
	expFalse
	expParent     // %%parent.<name>: the parent %%root names
	expPrevParent // %%prevParent.<name>: the parent %%prevRoot names
)

// expansion is a %% name with its dotted path, or a bare field name (read
// from %%root, as App Services does in MongoDB rules).
type expansion struct {
	kind   expKind
	path   []string
	text   string
	parent *Parent // expParent, expPrevParent
	userID bool    // %%user.id, told at load rather than by its path at each read
}

func (x *expansion) String() string { return x.text }

// resolve returns the expansion's value, and false when there is none.
func (x *expansion) resolve(e *env) (any, bool) {
	switch x.kind {
	case expTrue:
		return true, true
	case expFalse:
		return false, true
	case expRoot:
		return e.root.lookup(x.path)
	case expPrevRoot:
		return e.prevRoot.lookup(x.path)
	case expParent, expPrevParent:
		d := e.root
		if x.kind == expPrevParent {
			d = e.prevRoot
		}
		p, ok := x.parent.find(d, e.parents)
		if !ok {
			return nil, false
		}
		return lookup(p, x.path)
	case expThis, expPrev:
		d := e.thisDoc
		if x.kind == expPrev {
			d = e.prevDoc
		}
		if d == nil {
			return nil, false
		}
		v, ok := d.Get(e.field)
		if !ok || len(x.path) == 0 {
			return v, ok
		}
		return lookup(v, x.path)
	case expValues:
		return lookup(e.values, x.path)
	case expUser:
		u := e.user
		if u == nil {
			return nil, false
		}
		if x.userID {
			if u.ID == "" {
				return nil, false
			}
			if e.userID != nil {
				return e.userID, true
			}
			return u.ID, true
		}
		if len(x.path) == 0 {
			return u.asMap(), true
		}
		switch x.path[0] {
		case "id":
			if u.ID == "" || len(x.path) > 1 {
				return nil, false
			}
			if e.userID != nil {
				return e.userID, true
			}
			return u.ID, true
		case "type":
			if u.Type == "" || len(x.path) > 1 {
				return nil, false
			}
			return u.Type, true
		case "data":
			if u.Data == nil {
				return nil, false
			}
			return lookup(u.Data, x.path[1:])
		case "custom_data":
			if u.CustomData == nil {
				return nil, false
			}
			return lookup(u.CustomData, x.path[1:])
		}
	}
	return nil, false
}

// compiler turns decoded JSON into nodes, collecting problems with the
// JSON pointer of each.
type compiler struct {
	file       string
	values     map[string]any
	parentRefs map[string]*Parent // the file's declared parents, by name
	problems   []Problem
	// reads are every expansion the file's expressions hold, bare field
	// names included (storedfields.go).
	reads []*expansion
	// names interns the field names expressions and field rules read
	// (shared by a set's files): a decision's documents tell a name they
	// were asked before by its string data, without comparing bytes.
	names map[string]string
}

// name is s interned in c.names.
func (c *compiler) name(s string) string {
	if n, ok := c.names[s]; ok {
		return n
	}
	if c.names == nil {
		c.names = map[string]string{}
	}
	c.names[s] = s
	return s
}

// namePath interns a path's names.
func (c *compiler) namePath(path []string) []string {
	for i, p := range path {
		path[i] = c.name(p)
	}
	return path
}

func (c *compiler) fail(ptr, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Pointer: ptr, Msg: fmt.Sprintf(format, args...)})
}

func pointerJoin(ptr, key string) string {
	key = strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
	return ptr + "/" + key
}

// parseExpansion reads "%%root.a.b" and friends.
func (c *compiler) parseExpansion(ptr, s string) *expansion {
	parts := strings.Split(s, ".")
	for _, p := range parts[1:] {
		if p == "" {
			c.fail(ptr, "%s: empty path segment", s)
			return nil
		}
	}
	x := &expansion{path: c.namePath(parts[1:]), text: s}
	switch parts[0] {
	case "%%root":
		x.kind = expRoot
	case "%%prevRoot":
		x.kind = expPrevRoot
	case "%%this":
		x.kind = expThis
	case "%%prev":
		x.kind = expPrev
	case "%%true", "%%false":
		if len(parts) > 1 {
			c.fail(ptr, "%s: %s has no fields", s, parts[0])
			return nil
		}
		x.kind = expTrue
		if parts[0] == "%%false" {
			x.kind = expFalse
		}
	case "%%values":
		if len(parts) < 2 {
			c.fail(ptr, "%s: name a value (%%%%values.<name>)", s)
			return nil
		}
		if _, ok := c.values[parts[1]]; !ok {
			c.fail(ptr, "%s: no value %q in %s", s, parts[1], ValuesFile)
			return nil
		}
		x.kind = expValues
	case "%%user":
		if len(parts) > 1 {
			switch parts[1] {
			case "id", "type":
				if len(parts) > 2 {
					c.fail(ptr, "%s: %%%%user.%s has no fields", s, parts[1])
					return nil
				}
			case "data", "custom_data":
			default:
				c.fail(ptr, "%s: unsupported (%%%%user has id, type, data and custom_data)", s)
				return nil
			}
		}
		x.kind = expUser
		x.userID = len(parts) == 2 && parts[1] == "id"
	case "%%parent", "%%prevParent":
		if len(parts) < 2 {
			c.fail(ptr, "%s: name a parent (%s.<name>, declared in %s)", s, parts[0], ParentsKey)
			return nil
		}
		ref := c.parentRefs[parts[1]]
		if ref == nil {
			c.fail(ptr, "%s: no parent %q in this file's %s", s, parts[1], ParentsKey)
			return nil
		}
		x.kind, x.parent, x.path = expParent, ref, parts[2:]
		if parts[0] == "%%prevParent" {
			x.kind = expPrevParent
		}
	case "%%partition":
		c.fail(ptr, "%s: unsupported: %%%%partition belongs to partition-based Device Sync; PowerSync's sync config decides reads", s)
		return nil
	case "%%args":
		c.fail(ptr, "%s: unsupported: %%%%args is for function and service rules", s)
		return nil
	case "%%request", "%%environment", "%%function":
		c.fail(ptr, "%s: unsupported expansion", s)
		return nil
	default:
		c.fail(ptr, "%s: unknown expansion", s)
		return nil
	}
	c.reads = append(c.reads, x)
	return x
}

// expr compiles a boolean expression: true/false, an expansion that holds
// a boolean, or an object whose members all hold.
func (c *compiler) expr(ptr string, v any) node {
	switch x := v.(type) {
	case bool:
		return constNode(x)
	case string:
		if strings.HasPrefix(x, "%%") {
			if xp := c.parseExpansion(ptr, x); xp != nil {
				return boolExp{xp}
			}
			return nil
		}
	case map[string]any:
		return c.object(ptr, x)
	}
	c.fail(ptr, "expression must be true, false, an expansion or an object, got %s", typeName(v))
	return nil
}

func (c *compiler) object(ptr string, m map[string]any) node {
	keys := sortedKeys(m)
	var all andNode
	for _, k := range keys {
		p := pointerJoin(ptr, k)
		switch {
		case k == "%and" || k == "%or":
			arr, ok := m[k].([]any)
			if !ok {
				c.fail(p, "%s takes an array of expressions", k)
				continue
			}
			var list []node
			for i, sub := range arr {
				if n := c.expr(p+"/"+strconv.Itoa(i), sub); n != nil {
					list = append(list, n)
				}
			}
			if k == "%and" {
				all = append(all, andNode(list))
			} else {
				all = append(all, orNode(list))
			}
		case k == "%function":
			c.fail(p, "unsupported: %%function calls an Atlas Function; write the check as a guest (docs/authorization.md)")
		case strings.HasPrefix(k, "%%"):
			if x := c.parseExpansion(p, k); x != nil {
				if t := c.test(p, m[k]); t != nil {
					all = append(all, newTestNode(x, t))
				}
			}
		case strings.HasPrefix(k, "%") || strings.HasPrefix(k, "$"):
			c.fail(p, "unknown operator %s here (an expression's keys are fields, expansions, %%and or %%or)", k)
		default:
			for _, seg := range strings.Split(k, ".") {
				if seg == "" {
					c.fail(p, "field %q: empty path segment", k)
				}
			}
			x := &expansion{kind: expRoot, path: c.namePath(strings.Split(k, ".")), text: k}
			c.reads = append(c.reads, x)
			if t := c.test(p, m[k]); t != nil {
				all = append(all, newTestNode(x, t))
			}
		}
	}
	if len(all) == 1 {
		return all[0]
	}
	return all
}

// test compiles what a field or expansion is matched against: a value
// (equality), or an object of operators, all of which must hold.
func (c *compiler) test(ptr string, v any) valueTest {
	m, ok := v.(map[string]any)
	if !ok || !hasOperatorKey(m) || isConversion(m) {
		o := c.operand(ptr, v)
		if o == nil {
			return nil
		}
		return eqTest{o}
	}
	var tests allTests
	for _, k := range sortedKeys(m) {
		p := pointerJoin(ptr, k)
		arg := m[k]
		switch k {
		case "$eq", "$ne":
			if o := c.operand(p, arg); o != nil {
				if k == "$eq" {
					tests = append(tests, eqTest{o})
				} else {
					tests = append(tests, neTest{o})
				}
			}
		case "$gt", "$gte", "$lt", "$lte":
			if o := c.operand(p, arg); o != nil {
				tests = append(tests, cmpTest{op: k, v: o})
			}
		case "$in", "$nin":
			if _, isMap := arg.(map[string]any); isMap && !isConversion(arg.(map[string]any)) {
				c.fail(p, "%s takes an array or an expansion holding one", k)
				continue
			}
			if s, isStr := arg.(string); isStr && !strings.HasPrefix(s, "%%") {
				c.fail(p, "%s takes an array or an expansion holding one, got a string", k)
				continue
			}
			if o := c.operand(p, arg); o != nil {
				tests = append(tests, inTest{v: o, not: k == "$nin"})
			}
		case "$exists", "%exists":
			b, ok := arg.(bool)
			if !ok {
				c.fail(p, "%s takes true or false", k)
				continue
			}
			tests = append(tests, existsTest(b))
		case "%function":
			c.fail(p, "unsupported: %%function calls an Atlas Function; write the check as a guest (docs/authorization.md)")
		default:
			if strings.HasPrefix(k, "$") || strings.HasPrefix(k, "%") {
				c.fail(p, "unknown operator %s", k)
			} else {
				c.fail(p, "field %q mixed with operators (an object here is either all operators or a literal)", k)
			}
		}
	}
	if len(tests) == 0 {
		return nil
	}
	if len(tests) == 1 {
		return tests[0]
	}
	return tests
}

func hasOperatorKey(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "$") || strings.HasPrefix(k, "%") && !strings.HasPrefix(k, "%%") {
			return true
		}
	}
	return false
}

var conversions = map[string]bool{"%stringToOid": true, "%oidToString": true, "%stringToUuid": true, "%uuidToString": true}

func isConversion(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return conversions[k]
	}
	return false
}

// operand is a value a test compares with: a literal, an expansion, a
// conversion of one, or an array or object holding any of these.
type operand struct {
	lit    any // when static
	static bool
	x      *expansion
	conv   string
	arg    *operand
	arr    []*operand
	obj    map[string]*operand
}

func (c *compiler) operand(ptr string, v any) *operand {
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "%%") {
			xp := c.parseExpansion(ptr, x)
			if xp == nil {
				return nil
			}
			return &operand{x: xp}
		}
		return &operand{lit: x, static: true}
	case []any:
		o := &operand{arr: make([]*operand, len(x)), static: true}
		for i, e := range x {
			if o.arr[i] = c.operand(ptr+"/"+strconv.Itoa(i), e); o.arr[i] == nil {
				return nil
			}
			o.static = o.static && o.arr[i].static
		}
		if o.static {
			o.lit = x
		}
		return o
	case map[string]any:
		if isConversion(x) {
			for k, arg := range x {
				p := pointerJoin(ptr, k)
				if m, ok := arg.(map[string]any); ok && hasOperatorKey(m) {
					c.fail(p, "%s takes a value or an expansion, not another operator", k)
					return nil
				}
				a := c.operand(p, arg)
				if a == nil {
					return nil
				}
				o := &operand{conv: k, arg: a}
				if a.static { // a malformed literal is a load error
					val, ok, err := o.value(nil)
					if err != nil {
						c.fail(p, "%s: %v", k, err)
						return nil
					}
					o.lit, o.static = val, ok
				}
				return o
			}
		}
		if hasOperatorKey(x) {
			for _, k := range sortedKeys(x) {
				if strings.HasPrefix(k, "$") || strings.HasPrefix(k, "%") && !strings.HasPrefix(k, "%%") {
					if k == "%function" {
						c.fail(pointerJoin(ptr, k), "unsupported: %%function calls an Atlas Function; write the check as a guest (docs/authorization.md)")
					} else {
						c.fail(pointerJoin(ptr, k), "operator %s is not allowed inside a value", k)
					}
					return nil
				}
			}
		}
		o := &operand{obj: make(map[string]*operand, len(x)), static: true}
		for k, e := range x {
			if o.obj[k] = c.operand(pointerJoin(ptr, k), e); o.obj[k] == nil {
				return nil
			}
			o.static = o.static && o.obj[k].static
		}
		if o.static {
			o.lit = x
		}
		return o
	}
	return &operand{lit: v, static: true}
}

// value evaluates the operand; false when an expansion in it has no value.
func (o *operand) value(e *env) (any, bool, error) {
	if o.static {
		return o.lit, true, nil
	}
	switch {
	case o.x != nil:
		v, ok := o.x.resolve(e)
		return v, ok, nil
	case o.conv != "":
		a, ok, err := o.arg.value(e)
		if err != nil || !ok {
			return nil, ok, err
		}
		return convert(o.conv, a)
	case o.arr != nil:
		out := make([]any, len(o.arr))
		for i, a := range o.arr {
			v, ok, err := a.value(e)
			if err != nil || !ok {
				return nil, ok, err
			}
			out[i] = v
		}
		return out, true, nil
	case o.obj != nil:
		out := make(map[string]any, len(o.obj))
		for k, a := range o.obj {
			v, ok, err := a.value(e)
			if err != nil || !ok {
				return nil, ok, err
			}
			out[k] = v
		}
		return out, true, nil
	}
	return nil, false, errors.New("empty operand")
}

func convert(op string, a any) (any, bool, error) {
	switch op {
	case "%stringToOid", "%oidToString":
		var o oid
		switch x := a.(type) {
		case oid:
			o = x
		case string:
			var ok bool
			if o, ok = parseOID(x); !ok {
				return nil, false, fmt.Errorf("%s: %s is not 24 hex digits", op, show(a))
			}
		default:
			return nil, false, fmt.Errorf("%s: got %s, want a string", op, typeName(a))
		}
		if op == "%oidToString" {
			return string(o), true, nil
		}
		return o, true, nil
	default: // %stringToUuid, %uuidToString
		var u uuid
		switch x := a.(type) {
		case uuid:
			u = x
		case string:
			var ok bool
			if u, ok = parseUUID(x); !ok {
				return nil, false, fmt.Errorf("%s: %s is not a UUID", op, show(a))
			}
		default:
			return nil, false, fmt.Errorf("%s: got %s, want a string", op, typeName(a))
		}
		if op == "%uuidToString" {
			return string(u), true, nil
		}
		return u, true, nil
	}
}

func (o *operand) String() string {
	switch {
	case o.x != nil:
		return o.x.text
	case o.conv != "":
		return "{" + o.conv + ": " + o.arg.String() + "}"
	case o.static:
		return show(o.lit)
	case o.arr != nil:
		parts := make([]string, len(o.arr))
		for i, a := range o.arr {
			parts[i] = a.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	parts := make([]string, 0, len(o.obj))
	for _, k := range sortedKeys(o.obj) {
		parts = append(parts, strconv.Quote(k)+": "+o.obj[k].String())
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
