package rewrite

import "fmt"

// Sections and renumbering: what the rewrite reads of a module's sections
// (types, imports, functions, tables, memories, globals, data), checked
// against the rules and Limits, and the sections it rewrites because the
// added import shifts every defined function's index (exports, elements,
// the name section). Value types and vectors are read here too.

// layout is what the rewrite knows of a module before writing it.
type layout struct {
	types, importedFuncs, definedFuncs, globals, tables, memories uint32
	bulk                                                          bool // the rewrite adds the bulk-memory helpers
}

func (l *layout) totalFuncs() uint32 { return l.importedFuncs + l.definedFuncs }

// fn checks a function index against the module and renumbers it: defined
// functions move up by one, past the added import.
func (l *layout) fn(idx uint32) (uint32, error) {
	if idx >= l.totalFuncs() {
		return 0, malformed("function %d does not exist (the module has %d)", idx, l.totalFuncs())
	}
	if idx >= l.importedFuncs {
		return idx + 1, nil
	}
	return idx, nil
}

func (l *layout) yield() uint32     { return l.importedFuncs }
func (l *layout) fuel() uint32      { return l.globals }
func (l *layout) fillFunc() uint32  { return l.totalFuncs() + 1 }
func (l *layout) copyFunc() uint32  { return l.totalFuncs() + 2 }
func (l *layout) bulkType() uint32  { return l.types + 1 }
func (l *layout) yieldType() uint32 { return l.types }

// numType reports whether c is one of WebAssembly 1.0's four value types.
func numType(c byte) bool { return c >= 0x7c && c <= 0x7f }

func valTypeFeature(c byte) string {
	switch c {
	case 0x7b:
		return "SIMD"
	case 0x70, 0x6f, 0x63, 0x64:
		return "reference types"
	}
	return ""
}

// badValType is the refusal for a value type outside WebAssembly 1.0.
func badValType(what string, c byte) error {
	if f := valTypeFeature(c); f != "" {
		return refuse(f, "%s of type 0x%02x (%s)", what, c, f)
	}
	return malformed("%s of unknown type 0x%02x", what, c)
}

func checkTypes(p []byte) (uint32, error) {
	return readVec(p, func(i uint32, r *reader) error {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return refuse("typed function references", "type %d has form 0x%02x, not a function type", i, form)
		}
		for _, what := range []string{"parameter", "result"} {
			k, err := r.u32()
			if err != nil {
				return err
			}
			if what == "result" && k > 1 {
				return refuse("multi-value", "type %d returns %d values", i, k)
			}
			for range k {
				c, err := r.byte()
				if err != nil {
					return err
				}
				if !numType(c) {
					return at(fmt.Sprintf("type %d", i), badValType(what, c))
				}
			}
		}
		return nil
	})
}

func (l *layout) readImports(p []byte) error {
	_, err := readVec(p, func(i uint32, r *reader) error {
		mod, err := r.name()
		if err != nil {
			return err
		}
		field, err := r.name()
		if err != nil {
			return err
		}
		if mod == YieldModule {
			return refuse("syncgate's own import", "import %d (%s.%s) names the module the sandbox adds", i, mod, field)
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		if kind != 0x00 {
			what := map[byte]string{1: "a table", 2: "a memory", 3: "a global", 4: "a tag"}[kind]
			if what == "" {
				return malformed("import %d has unknown kind 0x%02x", i, kind)
			}
			return refuse("imports other than functions", "import %d (%s.%s) is %s; a guest imports functions only", i, mod, field, what)
		}
		t, err := r.u32()
		if err != nil {
			return err
		}
		if t >= l.types {
			return malformed("import %d has type %d, which does not exist", i, t)
		}
		l.importedFuncs++
		return nil
	})
	return err
}

func (l *layout) readFunctions(p []byte, lim Limits) error {
	if n, err := (&reader{b: p}).u32(); err == nil && n > lim.Functions {
		return refuse("size", "%d functions, over the limit of %d", n, lim.Functions)
	}
	var err error
	l.definedFuncs, err = readVec(p, func(i uint32, r *reader) error {
		t, err := r.u32()
		if err != nil {
			return err
		}
		if t >= l.types {
			return malformed("function %d has type %d, which does not exist", i, t)
		}
		return nil
	})
	return err
}

func (l *layout) readTables(p []byte, lim Limits, st *Stats) error {
	var err error
	l.tables, err = readVec(p, func(i uint32, r *reader) error {
		if i > 0 {
			return refuse("reference types", "more than one table; a guest has at most one")
		}
		t, err := r.byte()
		if err != nil {
			return err
		}
		if t != 0x70 {
			return refuse("reference types", "a table of type 0x%02x; a guest's table holds funcref", t)
		}
		entries, _, err := r.limits()
		if err != nil {
			return err
		}
		if entries > lim.Table {
			return refuse("size", "a table of %d entries, over the limit of %d", entries, lim.Table)
		}
		st.Table = entries
		return nil
	})
	return err
}

func (l *layout) readMemories(p []byte) error {
	var err error
	l.memories, err = readVec(p, func(i uint32, r *reader) error {
		if i > 0 {
			return refuse("multiple memories", "more than one memory; a guest has at most one")
		}
		_, _, err := r.limits()
		return err
	})
	return err
}

func (l *layout) readGlobals(p []byte) error {
	var err error
	l.globals, err = readVec(p, func(i uint32, r *reader) error {
		t, err := r.byte()
		if err != nil {
			return err
		}
		if !numType(t) {
			return at(fmt.Sprintf("global %d", i), badValType("global", t))
		}
		mut, err := r.byte()
		if err != nil {
			return err
		}
		if mut > 1 {
			return malformed("global %d has mutability %d", i, mut)
		}
		if _, err := constExpr(r); err != nil {
			return at(fmt.Sprintf("global %d", i), err)
		}
		return nil
	})
	return err
}

// constExpr reads a constant expression: one numeric constant and end.
// (With no imported globals, global.get has nothing to name.)
func constExpr(r *reader) ([]byte, error) {
	start := r.off
	op, err := r.byte()
	if err != nil {
		return nil, err
	}
	switch op {
	case 0x41:
		err = r.s32()
	case 0x42:
		err = r.s64()
	case 0x43:
		_, err = r.bytes(4)
	case 0x44:
		_, err = r.bytes(8)
	case 0xd0, 0xd2:
		return nil, refuse("reference types", "constant expression with instruction 0x%02x", op)
	default:
		return nil, malformed("constant expression with instruction 0x%02x; a guest's are numeric constants", op)
	}
	if err != nil {
		return nil, err
	}
	if end, err := r.byte(); err != nil || end != 0x0b {
		return nil, malformed("constant expression of more than one instruction")
	}
	return r.b[start:r.off], nil
}

func rewriteExport(out []byte, r *reader, l *layout) ([]byte, error) {
	name, err := r.name()
	if err != nil {
		return nil, err
	}
	kind, err := r.byte()
	if err != nil {
		return nil, err
	}
	idx, err := r.u32()
	if err != nil {
		return nil, err
	}
	var count uint32
	switch kind {
	case 0x00:
		if idx, err = l.fn(idx); err != nil {
			return nil, at(fmt.Sprintf("export %q", name), err)
		}
		count = ^uint32(0)
	case 0x01:
		count = l.tables
	case 0x02:
		count = l.memories
	case 0x03:
		count = l.globals // the fuel is not one of them
	default:
		return nil, malformed("export %q has unknown kind 0x%02x", name, kind)
	}
	if idx >= count {
		return nil, malformed("export %q names item %d of kind %d, which does not exist", name, idx, kind)
	}
	return appendU32(append(appendName(out, name), kind), idx), nil
}

// rewriteElement copies one element segment with its function indexes
// renumbered. A guest's segments are active, fill table 0 and list
// function indexes (flags 0), as Go emits them.
func rewriteElement(out []byte, r *reader, l *layout) ([]byte, error) {
	flags, err := r.u32()
	if err != nil {
		return nil, err
	}
	if flags != 0 {
		return nil, refuse("reference types", "element segment with flags %d (passive, declarative, expressions or table index)", flags)
	}
	if l.tables == 0 {
		return nil, malformed("element segment without a table")
	}
	expr, err := constExpr(r)
	if err != nil {
		return nil, err
	}
	if expr[0] != 0x41 {
		return nil, malformed("element segment offset is not an i32 constant")
	}
	out = append(appendU32(out, flags), expr...)
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out = appendU32(out, n)
	for range n {
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		if idx, err = l.fn(idx); err != nil {
			return nil, err
		}
		out = appendU32(out, idx)
	}
	return out, nil
}

// checkData accepts active data segments of memory 0 (flags 0), as Go
// emits them.
func checkData(p []byte) error {
	_, err := readVec(p, func(i uint32, r *reader) error {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags != 0 {
			return at(fmt.Sprintf("data segment %d", i), refuse("bulk memory", "passive or explicit-memory data segment (flags %d)", flags))
		}
		expr, err := constExpr(r)
		if err != nil {
			return at(fmt.Sprintf("data segment %d", i), err)
		}
		if expr[0] != 0x41 {
			return malformed("data segment %d offset is not an i32 constant", i)
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		_, err = r.bytes(int(size))
		return err
	})
	return err
}

// readVec reads a vector payload, calling entry for each element, and
// returns its length; bytes after the last element are refused.
func readVec(p []byte, entry func(i uint32, r *reader) error) (uint32, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	for i := range n {
		if err := entry(i, &r); err != nil {
			return 0, err
		}
	}
	return n, r.end()
}

// appendToVec returns a vector payload with one more element.
func appendToVec(p, elem []byte) ([]byte, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(p)+len(elem)+5), n+1)
	out = append(out, p[r.off:]...)
	return append(out, elem...), nil
}

// rewriteVec rewrites each element of a vector payload with elem, which
// reads one element from r and appends its new form to out.
func rewriteVec(p []byte, elem func(out []byte, r *reader) ([]byte, error)) ([]byte, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(p)+len(p)/8), n)
	for i := range n {
		if out, err = elem(out, &r); err != nil {
			return nil, at(fmt.Sprintf("entry %d", i), err)
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// renumberNames rewrites the name section's function names (subsection 1)
// and local names (2, keyed by function); the module name (0) is kept and
// other subsections are dropped.
func renumberNames(p []byte, l *layout) ([]byte, error) {
	r := reader{b: p}
	if _, err := r.name(); err != nil {
		return nil, err
	}
	out := append([]byte(nil), p[:r.off]...)
	for r.off < len(p) {
		id, sub, err := r.section()
		if err != nil {
			return nil, err
		}
		var np []byte
		switch id {
		case 0:
			np = sub
		case 1, 2:
			np, err = rewriteVec(sub, func(out []byte, r *reader) ([]byte, error) {
				idx, err := r.u32()
				if err != nil {
					return nil, err
				}
				if idx, err = l.fn(idx); err != nil {
					return nil, err
				}
				out = appendU32(out, idx)
				if id == 1 {
					name, err := r.name()
					return appendName(out, name), err
				}
				return copyNameMap(out, r) // local names
			})
			if err != nil {
				return nil, err
			}
		default:
			continue
		}
		out = appendSection(out, id, np)
	}
	return out, nil
}

// copyNameMap copies a name map (a vector of index, name) unchanged.
func copyNameMap(out []byte, r *reader) ([]byte, error) {
	start := r.off
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	for range n {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		if _, err := r.name(); err != nil {
			return nil, err
		}
	}
	return append(out, r.b[start:r.off]...), nil
}
