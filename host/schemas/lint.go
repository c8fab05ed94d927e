package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/syncgate/syncgate/guest/schemagate/schemaset"
)

// Annotations are the x- keywords syncgate reads; any other x- keyword is
// the author's own, except one so close to these that it is a typo.
var Annotations = []string{Keyword}

// Check is what `syncgate schemas check` runs: Load, its problems rewritten
// for people (a meta-schema error says which value is wrong and what is
// allowed), then Lint when the schemas load.
func Check(dir string) (*Set, schemaset.Problems) {
	set, err := Load(dir)
	if err != nil {
		var ps schemaset.Problems
		if !errors.As(err, &ps) {
			return nil, schemaset.Problems{{File: dir, Message: err.Error()}}
		}
		return nil, Explain(dir, ps)
	}
	if ps := set.Lint(); len(ps) > 0 {
		return set, ps
	}
	return set, nil
}

// metaError is the compiler's message for a value the JSON Schema
// meta-schema refuses: the place, the meta-schema path, what it wants.
var metaError = regexp.MustCompile(`'([^']*)' does not validate with \S+: (.*)$`)

// Explain rewrites meta-schema errors ("'/properties/body/type' does not
// validate with https://…/$dynamicRef/allOf/3/…/enum: value must be one of
// …") as the place, the value found there and what is allowed:
// `at /properties/body/type: "strng" is not a type (one of "array", …)`.
func Explain(dir string, ps schemaset.Problems) schemaset.Problems {
	out := make(schemaset.Problems, len(ps))
	for i, p := range ps {
		out[i] = p
		m := metaError.FindStringSubmatch(p.Message)
		if m == nil {
			continue
		}
		ptr, want := m[1], m[2]
		value := "the value"
		if b, err := os.ReadFile(filepath.Join(dir, p.File)); err == nil {
			var doc any
			if json.Unmarshal(b, &doc) == nil {
				if v, ok := pointer(doc, ptr); ok {
					vb, _ := json.Marshal(v)
					value = string(vb)
				}
			}
		}
		msg := value + ": " + want
		if one, ok := strings.CutPrefix(want, "value must be one of "); ok {
			what := "an allowed value"
			if strings.HasSuffix(ptr, "/type") {
				what = "a type"
			}
			msg = fmt.Sprintf("%s is not %s (one of %s)", value, what, one)
		}
		out[i].Location, out[i].Message = "at "+ptr, msg
	}
	return out
}

// pointer resolves a JSON pointer in doc.
func pointer(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Lint finds what the compiler accepts but cannot work: a required name
// that no property allows (with additionalProperties false, every write
// is rejected), and an x- annotation that differs from one syncgate reads
// only by a typo (its values would be stored unconverted).
func (s *Set) Lint() schemaset.Problems {
	var ps schemaset.Problems
	for _, table := range s.Tables() {
		doc, _ := s.set.Raw(table)
		lint(table+".json", "", doc, &ps)
	}
	return ps
}

func lint(file, at string, v any, ps *schemaset.Problems) {
	switch n := v.(type) {
	case []any:
		for i, e := range n {
			lint(file, at+"/"+strconv.Itoa(i), e, ps)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(n)) {
			if strings.HasPrefix(k, "x-") && !slices.Contains(Annotations, k) {
				for _, a := range Annotations {
					if strings.EqualFold(k, a) || EditDistance(k, a) <= 2 {
						*ps = append(*ps, schemaset.Problem{File: file, Location: "at " + at + "/" + k,
							Message: fmt.Sprintf("%s is not an annotation syncgate reads; did you mean %s?", k, a)})
					}
				}
			}
			// properties' and $defs' keys are names, not keywords.
			if k == "properties" || k == "$defs" || k == "patternProperties" {
				if m, ok := n[k].(map[string]any); ok {
					for _, name := range slices.Sorted(maps.Keys(m)) {
						lint(file, at+"/"+k+"/"+name, m[name], ps)
					}
					continue
				}
			}
			lint(file, at+"/"+k, n[k], ps)
		}
		lintRequired(file, at, n, ps)
	}
}

// lintRequired reports the required names of a closed object schema that
// no property (or property pattern) allows.
func lintRequired(file, at string, n map[string]any, ps *schemaset.Problems) {
	if n["additionalProperties"] != false {
		return
	}
	req, _ := n["required"].([]any)
	props, _ := n["properties"].(map[string]any)
	patterns, _ := n["patternProperties"].(map[string]any)
	for i, r := range req {
		name, _ := r.(string)
		if _, ok := props[name]; ok {
			continue
		}
		matched := false
		for p := range patterns {
			if re, err := regexp.Compile(p); err == nil && re.MatchString(name) {
				matched = true
			}
		}
		if matched {
			continue
		}
		names := slices.Sorted(maps.Keys(props))
		hint := ""
		best := 3
		for _, p := range names {
			if d := EditDistance(name, p); d < best {
				best, hint = d, "; did you mean "+strconv.Quote(p)+"?"
			}
		}
		*ps = append(*ps, schemaset.Problem{File: file, Location: fmt.Sprintf("at %s/required/%d", at, i),
			Message: fmt.Sprintf("%q is required, but no property allows it (additionalProperties is false; properties: %s), so every write is rejected%s", name, strings.Join(names, ", "), hint)})
	}
}

// EditDistance is the Levenshtein distance of a and b, with a swap of two
// neighbours counting as one edit.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
