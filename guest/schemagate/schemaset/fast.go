package schemaset

import (
	"encoding/json"
	"math/big"
	"regexp"
	"unicode/utf8"
	"unsafe"

	"github.com/syncgate/syncgate/guest/raw"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// The fast path: a check of a document's JSON bytes against jsonschema/v5's
// compiled schema that can only answer "valid for certain" or "not sure".
//
// One file (≈ 740 lines) on purpose: it is one decision procedure, and its
// soundness argument is the list below of what it decides, checked against
// the keyword checks that follow it; split up, the list and the checks it
// vouches for would drift apart.
//
// jsonschema/v5 validates decoded values (maps, json.Number compared as
// big.Rat, an instance-location string built per property), which inside
// wasm costs ~25× the native call (docs/benchmarks.md). Most writes are
// valid, and proving a document valid needs much less: read the bytes where
// they lie and run the keywords' checks on them. So the gate asks this path
// first and accepts on "valid"; on "not sure" (a violation, or a keyword or
// value this path does not decide exactly) it decodes the document and asks
// jsonschema/v5, whose answer stands and whose errors become the rejection.
// jsonschema/v5 therefore decides every rejection and every schema feature
// not listed below; this path can only ever skip its work for documents it
// would accept (fast_test.go and FuzzFastPathAgrees check exactly that).
//
// Decided here: boolean schemas, type, const and enum on scalars (by exact
// text: 1 and 1.0 fall back), format (jsonschema's own checkers),
// minLength, maxLength, pattern (jsonschema's compiled regexp), integer
// bounds and multipleOf, properties, patternProperties,
// additionalProperties, propertyNames, required, min/maxProperties, items,
// prefixItems, additionalItems, min/maxItems, $ref, allOf, anyOf. Not decided
// (always "not sure" when reached): not, oneOf, if/then/else, dependencies,
// dependentRequired, dependentSchemas, unevaluated*, uniqueItems, contains,
// content*, $recursiveRef, $dynamicRef, extensions, non-integer numeric
// bounds, and schemas that refer to themselves (recursion).

// node is one compiled schema prepared for the fast path.
type node struct {
	s    *jsonschema.Schema
	ok   bool // every keyword of s is one the fast path decides
	leaf bool // a string, number or literal is checked by n's own keywords alone (no $ref, allOf, anyOf; never a boolean schema)
	typ  uint8

	hasEnum     bool
	enumStrings []string // string members of const/enum
	enumTexts   []string // other members as JSON text (numbers as written)
	format      func(any) bool
	uuid        bool // format is "uuid": checked by isUUID without boxing the string
	pattern     *dfa // the pattern's DFA, when it has one

	ref          *node
	allOf, anyOf []*node

	propList  []propNode     // properties, in a list searched in order when short
	props     map[string]int // their positions in propList when there are many (> 16)
	reqMask   uint64         // required properties among the first 64 of propList, by position
	reqOther  []string       // other required names
	onlyRef   bool           // n adds nothing to its $ref: check the target instead
	patterns  []patternNode
	addl      *node // additionalProperties schema (nil: none)
	noAddl    bool  // additionalProperties: false
	propNames *node

	items, addItems *node   // items for every element / after the tuple
	tuple           []*node // items as a list, prefixItems
	noAddItems      bool    // additionalItems: false

	min, max, exMin, exMax, multipleOf *int64
}

type propNode struct {
	name string
	n    *node
}

type patternNode struct {
	re *regexp.Regexp
	n  *node
}

// Type bits; an integer-valued number is both tNumber and tInteger.
const (
	tNull = 1 << iota
	tBool
	tObject
	tArray
	tNumber
	tString
	tInteger
)

var typeBits = map[string]uint8{"null": tNull, "boolean": tBool, "object": tObject, "array": tArray, "number": tNumber, "string": tString, "integer": tInteger}

// compileFast prepares s for the fast path; nil when s refers to itself
// (directly or through others), which the fast path leaves to jsonschema.
func compileFast(s *jsonschema.Schema) *node {
	c := fastCompiler{done: map[*jsonschema.Schema]*node{}, active: map[*jsonschema.Schema]bool{}}
	n := c.node(s)
	if c.cyclic {
		return nil
	}
	return n
}

type fastCompiler struct {
	done   map[*jsonschema.Schema]*node
	active map[*jsonschema.Schema]bool
	cyclic bool
}

func (c *fastCompiler) node(s *jsonschema.Schema) *node {
	if s == nil {
		return nil
	}
	if n, ok := c.done[s]; ok {
		if c.active[s] {
			c.cyclic = true
		}
		return n
	}
	n := &node{s: s, ok: true}
	c.done[s] = n
	c.active[s] = true
	defer delete(c.active, s)

	if s.Always != nil {
		return n
	}
	if s.RecursiveRef != nil || s.DynamicRef != nil || s.Not != nil || len(s.OneOf) > 0 ||
		s.If != nil || len(s.Dependencies) > 0 || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 ||
		s.UnevaluatedProperties != nil || s.UnevaluatedItems != nil || s.UniqueItems || s.Contains != nil ||
		s.RegexProperties || s.ContentEncoding != "" || s.ContentMediaType != "" || s.ContentSchema != nil ||
		len(s.Extensions) > 0 {
		n.ok = false
		return n
	}
	for _, t := range s.Types {
		bit, known := typeBits[t]
		if !known {
			n.ok = false
		}
		n.typ |= bit
	}
	members := s.Enum
	if len(s.Constant) > 0 {
		members = s.Constant[:1]
	}
	for _, v := range members {
		n.hasEnum = true
		switch v := v.(type) {
		case nil:
			n.enumTexts = append(n.enumTexts, "null")
		case bool:
			n.enumTexts = append(n.enumTexts, map[bool]string{true: "true", false: "false"}[v])
		case string:
			n.enumStrings = append(n.enumStrings, v)
		case json.Number:
			n.enumTexts = append(n.enumTexts, string(v))
		default: // objects, arrays: left to jsonschema
			n.ok = false
		}
	}
	if s.Format != "" {
		// Load compiles with AssertFormat, so jsonschema asserts exactly the
		// formats it knows, with these functions.
		n.format = jsonschema.Formats[s.Format]
		n.uuid = s.Format == "uuid"
	}
	if s.Pattern != nil {
		n.pattern = newDFA(s.Pattern)
	}
	n.ref = c.node(s.Ref)
	for _, sub := range s.AllOf {
		n.allOf = append(n.allOf, c.node(sub))
	}
	for _, sub := range s.AnyOf {
		n.anyOf = append(n.anyOf, c.node(sub))
	}
	for name, sub := range s.Properties {
		n.propList = append(n.propList, propNode{name, c.node(sub)})
	}
	if len(n.propList) > 16 {
		n.props = make(map[string]int, len(n.propList))
		for i, p := range n.propList {
			n.props[p.name] = i
		}
	}
	for _, r := range s.Required {
		if j := n.propIndex([]byte(r)); j >= 0 && j < 64 {
			n.reqMask |= 1 << j
		} else {
			n.reqOther = append(n.reqOther, r)
		}
	}
	for re, sub := range s.PatternProperties {
		n.patterns = append(n.patterns, patternNode{re, c.node(sub)})
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.noAddl = !a
	case *jsonschema.Schema:
		n.addl = c.node(a)
	}
	n.propNames = c.node(s.PropertyNames)
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		n.items = c.node(it)
	case []*jsonschema.Schema:
		for _, sub := range it {
			n.tuple = append(n.tuple, c.node(sub))
		}
		switch a := s.AdditionalItems.(type) {
		case bool:
			n.noAddItems = !a
		case *jsonschema.Schema:
			n.addItems = c.node(a)
		}
	}
	if len(s.PrefixItems) > 0 {
		if n.items != nil || len(n.tuple) > 0 {
			n.ok = false // both drafts' forms at once: left to jsonschema
		}
		for _, sub := range s.PrefixItems {
			n.tuple = append(n.tuple, c.node(sub))
		}
		n.addItems = c.node(s.Items2020)
	} else if s.Items2020 != nil {
		if n.items != nil || len(n.tuple) > 0 {
			n.ok = false
		}
		n.items = c.node(s.Items2020)
	}
	for _, b := range []struct {
		r *big.Rat
		p **int64
	}{{s.Minimum, &n.min}, {s.Maximum, &n.max}, {s.ExclusiveMinimum, &n.exMin}, {s.ExclusiveMaximum, &n.exMax}, {s.MultipleOf, &n.multipleOf}} {
		if b.r == nil {
			continue
		}
		if !b.r.IsInt() || !b.r.Num().IsInt64() {
			n.ok = false
			continue
		}
		v := b.r.Num().Int64()
		*b.p = &v
	}
	if n.multipleOf != nil && *n.multipleOf <= 0 {
		n.ok = false
	}
	n.onlyRef = n.ref != nil && n.ok && n.typ == 0 && !n.hasEnum && n.format == nil && s.Pattern == nil &&
		s.MinLength == -1 && s.MaxLength == -1 && len(n.allOf) == 0 && len(n.anyOf) == 0 &&
		len(n.propList) == 0 && len(n.patterns) == 0 && n.addl == nil && !n.noAddl && n.propNames == nil &&
		n.items == nil && n.addItems == nil && len(n.tuple) == 0 && !n.noAddItems &&
		n.min == nil && n.max == nil && n.exMin == nil && n.exMax == nil && n.multipleOf == nil &&
		s.MinProperties == -1 && s.MaxProperties == -1 && len(s.Required) == 0 && s.MinItems == -1 && s.MaxItems == -1
	n.leaf = n.ok && n.ref == nil && len(n.allOf) == 0 && len(n.anyOf) == 0
	return n
}

// value is one JSON value as the fast path sees it.
type value struct {
	kind  uint8  // tNull, tBool, tObject, tArray, tNumber (integer or not), tString
	ascii bool   // a string's contents are all ASCII
	raw   []byte // the JSON text (objects, arrays, numbers, literals)
	str   []byte // a string's contents, unescaped
	// A row: the object fastValidator.row reads, with member "id" replaced
	// by rowID.
	row   bool
	rowID string
}

// parse reads the JSON value text (one whole value); ok is false for
// anything it does not handle.
func parse(text []byte, v *value) bool {
	*v = value{raw: text}
	if len(text) == 0 {
		return false
	}
	switch c := text[0]; {
	case c == '{':
		v.kind = tObject
	case c == '[':
		v.kind = tArray
	case c == '"':
		s, err := raw.Unquote(text)
		v.kind, v.str, v.ascii = tString, s, isASCII(s)
		return err == nil
	case string(text) == "true" || string(text) == "false":
		v.kind = tBool
	case string(text) == "null":
		v.kind = tNull
	case c == '-' || ('0' <= c && c <= '9'):
		v.kind = tNumber
	default:
		return false
	}
	return true
}

// isASCII reports whether s is all ASCII, eight bytes a turn (in wasm each
// loop turn costs).
func isASCII[T string | []byte](s T) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// rowAccepted reports whether the row (the object members read, with
// member "id" set to id) is valid for n for certain; false means "not sure".
func rowAccepted(n *node, members *raw.Members, id string) bool {
	ascii := isASCII(id)
	if !ascii && !utf8.ValidString(id) {
		return false
	}
	fv := fastValidator{row: members}
	v := value{kind: tObject, row: true, rowID: id, ascii: ascii}
	return fv.check(n, &v)
}

type fastValidator struct {
	depth int
	row   *raw.Members // the row's members
}

// check reports whether v is valid for n for certain.
func (fv *fastValidator) check(n *node, v *value) bool {
	for n != nil && n.onlyRef { // inside wasm each call level costs
		n = n.ref
	}
	if n == nil {
		return true
	}
	if !n.ok {
		return false
	}
	if n.s.Always != nil {
		return *n.s.Always
	}
	if fv.depth >= 512 {
		return false
	}
	fv.depth++
	var ok bool
	switch v.kind {
	case tObject:
		ok = fv.object(n, v)
	case tArray:
		ok = fv.array(n, v)
	case tString:
		ok = fv.str(n, v.str, v.ascii)
	case tNumber:
		ok = fv.number(n, v.raw)
	default:
		ok = fv.literal(n, v.kind, v.raw)
	}
	// Subschemas applied to the same value.
	if ok && n.ref != nil {
		ok = fv.check(n.ref, v)
	}
	for i := 0; ok && i < len(n.allOf); i++ {
		ok = fv.check(n.allOf[i], v)
	}
	if ok && len(n.anyOf) > 0 {
		ok = false
		for _, sub := range n.anyOf {
			if ok = fv.check(sub, v); ok {
				break
			}
		}
	}
	fv.depth--
	return ok
}

// literal checks null, true or false against n's own keywords.
func (fv *fastValidator) literal(n *node, kind uint8, raw []byte) bool {
	return (n.typ == 0 || n.typ&kind != 0) && n.format == nil && fv.enumText(n, raw)
}

// enumText checks const/enum for a non-string scalar by its exact text.
func (fv *fastValidator) enumText(n *node, text []byte) bool {
	if !n.hasEnum {
		return true
	}
	for _, e := range n.enumTexts {
		if e == string(text) {
			return true
		}
	}
	return false
}

func (fv *fastValidator) str(n *node, s []byte, ascii bool) bool {
	if n.typ != 0 && n.typ&tString == 0 {
		return false
	}
	if n.hasEnum {
		found := false
		for _, e := range n.enumStrings {
			if e == string(s) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if n.uuid {
		if !isUUID(s) {
			return false
		}
	} else if n.format != nil && !n.format(unsafeString(s)) {
		return false
	}
	if n.s.MinLength != -1 || n.s.MaxLength != -1 {
		l := len(s)
		if !ascii {
			l = utf8.RuneCount(s)
		}
		if n.s.MinLength != -1 && l < n.s.MinLength || n.s.MaxLength != -1 && l > n.s.MaxLength {
			return false
		}
	}
	if n.s.Pattern == nil {
		return true
	}
	if n.pattern != nil && ascii {
		if matched, ok := n.pattern.match(s); ok {
			return matched
		}
	}
	return n.s.Pattern.Match(s)
}

// isUUID is jsonschema's "uuid" format (five groups of 8, 4, 4, 4 and 12
// hex digits joined by hyphens) on bytes: the format functions take an
// interface, and boxing a string allocates (≈ 0.6 µs inside wasm).
func isUUID(s []byte) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	hyphens := 0
	for _, c := range s {
		k := uuidBytes[c]
		if k == 0 {
			return false
		}
		hyphens += int(k >> 1)
	}
	return hyphens == 4 // the four checked above, no other
}

// uuidBytes is 1 for a hex digit, 2 for the hyphen, 0 for any other byte.
var uuidBytes = func() (t [256]byte) {
	for _, c := range []byte("0123456789abcdefABCDEF") {
		t[c] = 1
	}
	t['-'] = 2
	return t
}()

func (fv *fastValidator) number(n *node, raw []byte) bool {
	integer := true
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			integer = false
			break
		}
	}
	t := uint8(tNumber)
	if integer {
		t |= tInteger
	}
	// {"type":"integer"} takes 1.0 too (jsonschema compares as big.Rat):
	// a non-integer text is left undecided rather than refused.
	if n.typ != 0 && n.typ&t == 0 {
		return false
	}
	if !fv.enumText(n, raw) {
		return false
	}
	if n.format != nil && !n.format(json.Number(raw)) {
		return false
	}
	if n.min != nil || n.max != nil || n.exMin != nil || n.exMax != nil || n.multipleOf != nil {
		if !integer {
			return false
		}
		v, ok := parseInt64(raw)
		if !ok {
			return false
		}
		if n.min != nil && v < *n.min || n.max != nil && v > *n.max ||
			n.exMin != nil && v <= *n.exMin || n.exMax != nil && v >= *n.exMax ||
			n.multipleOf != nil && v%*n.multipleOf != 0 {
			return false
		}
	}
	return true
}

// parseInt64 reads an integer JSON number that fits in an int64.
func parseInt64(raw []byte) (int64, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	if len(raw) == 0 || len(raw) > 18 { // 18 digits always fit
		return 0, false
	}
	var v int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// object checks an object's members and the object keywords.
func (fv *fastValidator) object(n *node, v *value) bool {
	if n.typ != 0 && n.typ&tObject == 0 || n.hasEnum || n.format != nil {
		return false
	}
	// The keys seen: a bit per property among the first 64, the others by
	// value (a repeated key is left to jsonschema). Written out, not as a
	// helper: inside wasm every call and copy costs.
	var seen uint64
	var othersArr [8][]byte
	others := othersArr[:0]
	count := 0
	var mv value
	var m *raw.Members
	if v.row {
		m = fv.row
		mv = value{kind: tString, str: unsafe.Slice(unsafe.StringData(v.rowID), len(v.rowID)), ascii: v.ascii}
		count++
		j := n.propIndex(idKey)
		if j >= 0 && j < 64 {
			seen |= 1 << j
		} else {
			others = append(others, idKey)
		}
		if !fv.member(n, j, idKey, &mv) {
			return false
		}
	} else {
		lexed := raw.NewMembers(v.raw)
		m = &lexed
	}
	for m.Next() {
		key := m.Key()
		if v.row && len(key) == 2 && string(key) == "id" {
			continue
		}
		count++
		j := n.propIndex(key)
		if j >= 0 && j < 64 {
			if seen&(1<<j) != 0 {
				return false
			}
			seen |= 1 << j
		} else {
			for _, k := range others {
				if string(k) == string(key) {
					return false
				}
			}
			if len(others) == cap(others) {
				return false
			}
			others = append(others, key)
		}
		if s, ascii, isStr := m.String(); isStr {
			mv.kind, mv.str, mv.ascii, mv.raw = tString, s, ascii, nil
		} else if !parse(m.Value(), &mv) {
			return false
		}
		// A scalar under a declared property whose schema is a leaf is
		// checked here, as check would, without member's and check's
		// calls (inside wasm each costs about what the checks do).
		var sub *node
		if j >= 0 && n.propNames == nil && len(n.patterns) == 0 && mv.kind != tObject && mv.kind != tArray {
			for sub = n.propList[j].n; sub != nil && sub.onlyRef; sub = sub.ref {
			}
		}
		switch {
		case sub == nil || !sub.leaf:
			if !fv.member(n, j, key, &mv) {
				return false
			}
		case mv.kind == tString:
			if !fv.str(sub, mv.str, mv.ascii) {
				return false
			}
		case mv.kind == tNumber:
			if !fv.number(sub, mv.raw) {
				return false
			}
		default:
			if !fv.literal(sub, mv.kind, mv.raw) {
				return false
			}
		}
	}
	if m.Err() != nil {
		return false
	}
	s := n.s
	if s.MinProperties != -1 && count < s.MinProperties || s.MaxProperties != -1 && count > s.MaxProperties {
		return false
	}
	if seen&n.reqMask != n.reqMask {
		return false
	}
	for _, r := range n.reqOther {
		found := false
		for _, k := range others {
			if string(k) == r {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// member checks one property against propertyNames, properties,
// patternProperties and additionalProperties.
// j is key's position in n.propList (propIndex).
func (fv *fastValidator) member(n *node, j int, key []byte, v *value) bool {
	if n.propNames != nil {
		kv := value{kind: tString, str: key, ascii: isASCII(key)}
		if !fv.check(n.propNames, &kv) {
			return false
		}
	}
	matched := false
	if j >= 0 {
		matched = true
		if !fv.check(n.propList[j].n, v) {
			return false
		}
	}
	for _, p := range n.patterns {
		if p.re.Match(key) {
			matched = true
			if !fv.check(p.n, v) {
				return false
			}
		}
	}
	if matched {
		return true
	}
	return !n.noAddl && (n.addl == nil || fv.check(n.addl, v))
}

// propIndex finds a property's position in propList, -1 for none: a short
// list is searched in order (cheaper than hashing inside wasm), a long one
// through the map.
func (n *node) propIndex(key []byte) int {
	if n.props == nil {
		for i := range n.propList {
			// Length and last byte first: inside wasm the comparison's call
			// costs more than these.
			if name := n.propList[i].name; len(name) == len(key) && (len(key) == 0 || name[len(name)-1] == key[len(key)-1]) && name == string(key) {
				return i
			}
		}
		return -1
	}
	if j, ok := n.props[string(key)]; ok {
		return j
	}
	return -1
}

func (fv *fastValidator) array(n *node, v *value) bool {
	if n.typ != 0 && n.typ&tArray == 0 || n.hasEnum || n.format != nil {
		return false
	}
	i := 0
	good := true
	var ev value
	err := raw.Elements(v.raw, func(raw []byte) bool {
		var sub *node
		switch {
		case i < len(n.tuple):
			sub = n.tuple[i]
		case len(n.tuple) > 0:
			if n.noAddItems {
				good = false
				return false
			}
			sub = n.addItems
		default:
			sub = n.items
		}
		i++
		good = parse(raw, &ev) && fv.check(sub, &ev)
		return good
	})
	if err != nil || !good {
		return false
	}
	s := n.s
	return !(s.MinItems != -1 && i < s.MinItems || s.MaxItems != -1 && i > s.MaxItems)
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// idKey is the row's "id" member's key (a conversion in object would
// allocate each time).
var idKey = []byte("id")
