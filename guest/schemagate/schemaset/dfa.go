package schemaset

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// A pattern's DFA over ASCII bytes, built once from the compiled regexp's
// program: inside wasm Go's regexp spends ≈ 3.5 µs matching a 19-byte
// timestamp, a table walk a few hundred ns. It answers exactly as
// regexp.Match for ASCII input (FuzzDFAAgrees); other input, and patterns
// it cannot build (assertions other than ^ and $ of the whole text, or more
// than maxDFAStates states), go to the regexp.

// maxDFAStates bounds a pattern's table (128 entries of 2 bytes a state).
const maxDFAStates = 256

type dfa struct {
	next []uint16 // next[state*128+byte]
	// accept: a match has been found by this point whatever follows;
	// acceptEnd: the text matches if it ends here.
	accept, acceptEnd []bool
}

// dfaState 0 is the start, at the beginning of the text.
const dfaStart = 0

// match reports whether s matches; ok is false for non-ASCII input.
func (d *dfa) match(s []byte) (matched, ok bool) {
	st := dfaStart
	if d.accept[st] {
		return true, true
	}
	for _, c := range s {
		if c >= 0x80 {
			return false, false
		}
		st = int(d.next[st<<7|int(c)])
		if d.accept[st] {
			return true, true
		}
	}
	return d.acceptEnd[st], true
}

// newDFA builds re's DFA, or nil when it cannot.
func newDFA(re *regexp.Regexp) *dfa {
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil
	}
	for _, in := range prog.Inst {
		if in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
			return nil // line and word assertions depend on neighbouring bytes
		}
	}
	b := dfaBuilder{prog: prog, ids: map[string]int{}}
	// The start state runs at the beginning of the text; every later state
	// also starts a new attempt at its position (regexp.Match searches), which
	// is not at the beginning.
	b.state([]uint32{uint32(prog.Start)}, true)
	for i := 0; i < len(b.kernels); i++ {
		if len(b.kernels) > maxDFAStates {
			return nil
		}
		begin := i == dfaStart
		closure := b.closure(b.kernels[i], begin, false)
		b.d.accept = append(b.d.accept, slices.Contains(closure, uint32(0xffffffff)))
		b.d.acceptEnd = append(b.d.acceptEnd, slices.Contains(b.closure(b.kernels[i], begin, true), uint32(0xffffffff)))
		for c := range 128 {
			var k []uint32
			for _, pc := range closure {
				if pc != 0xffffffff && b.consumes(&prog.Inst[pc], rune(c)) {
					k = append(k, prog.Inst[pc].Out)
				}
			}
			k = append(k, uint32(prog.Start))
			b.d.next = append(b.d.next, uint16(b.state(k, false)))
		}
	}
	if len(b.kernels) > maxDFAStates {
		return nil
	}
	return &b.d
}

type dfaBuilder struct {
	prog    *syntax.Prog
	kernels [][]uint32
	ids     map[string]int
	d       dfa
}

// state returns the id of the state with kernel k (the threads a byte led
// to), adding it when new.
func (b *dfaBuilder) state(k []uint32, start bool) int {
	slices.Sort(k)
	k = slices.Compact(k)
	var key strings.Builder
	if start {
		key.WriteString("^")
	}
	for _, pc := range k {
		key.WriteString(strconv.FormatUint(uint64(pc), 36) + ",")
	}
	if id, ok := b.ids[key.String()]; ok {
		return id
	}
	id := len(b.kernels)
	b.ids[key.String()] = id
	b.kernels = append(b.kernels, k)
	return id
}

// closure is the instructions reachable from k without consuming input,
// where begin and end say whether ^ and $ hold; a match is 0xffffffff.
func (b *dfaBuilder) closure(k []uint32, begin, end bool) []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	stack := slices.Clone(k)
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, in.Out, in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if (op&syntax.EmptyBeginText == 0 || begin) && (op&syntax.EmptyEndText == 0 || end) {
				stack = append(stack, in.Out)
			}
		case syntax.InstMatch:
			out = append(out, 0xffffffff)
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			out = append(out, pc)
		}
	}
	return out
}

// consumes reports whether the rune instruction in matches c.
func (b *dfaBuilder) consumes(in *syntax.Inst, c rune) bool {
	switch in.Op {
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return c != '\n'
	}
	return in.MatchRune(c)
}
