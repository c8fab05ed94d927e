package schemaset

import (
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

var dfaPatterns = []string{
	`^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$`,
	`^[a-z]+$`, `[a-z]+`, `abc`, `^abc`, `abc$`, `^$`, ``, `a|^b|c$`, `(?i)^ab[c-e]$`, `(?s)a.b`, `a.b`, `\Aab\z`,
	`^(a|ab)(c|bcd)(d*)$`, `x*`, `^\d{3}-\w+\s?$`, `[^a-c]{2,3}`, `^[\x00-\x7f]+$`, `é`, `^.$`,
}

// refusedPatterns use assertions the DFA does not model.
var refusedPatterns = []string{`(?m)^a$`, `\bword\b`, `\Bx`}

var dfaInputs = []string{"", "a", "abc", "ab", "xabcx", "b", "c", "cab", "ABC", "abD", "2024-05-01", "2024-05-01 10:00:00",
	"2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00+0200", "2024-05-01T10:00", "2024-05-01T10:00:00Zx", "a\nb", "a-b", "123-foo ", "123-foo  ",
	"xyz", "\x00\x7f", "abcbcd", "abbcdddd", "é", "word", " x"}

// TestDFAAgreesWithRegexp: on ASCII input a pattern's DFA answers as the
// regexp; on other input it declines unless a match came before the first
// non-ASCII byte.
func TestDFAAgreesWithRegexp(t *testing.T) {
	for _, p := range dfaPatterns {
		re := regexp.MustCompile(p)
		d := newDFA(re)
		if d == nil {
			t.Fatalf("%q: no DFA", p)
		}
		for _, in := range dfaInputs {
			checkDFA(t, re, d, in)
		}
	}
	for _, p := range refusedPatterns {
		if newDFA(regexp.MustCompile(p)) != nil {
			t.Errorf("%q: a DFA for a pattern with line or word assertions", p)
		}
	}
	if newDFA(regexp.MustCompile(`(a|b)*a(a|b){9}`)) != nil { // 2^10 states
		t.Error("a DFA past maxDFAStates")
	}
}

func checkDFA(t *testing.T, re *regexp.Regexp, d *dfa, in string) {
	t.Helper()
	got, ok := d.match([]byte(in))
	if !ok && isASCII(in) {
		t.Fatalf("%q on %q: undecided on ASCII input", re, in)
	}
	if want := re.MatchString(in); ok && got != want {
		t.Fatalf("%q on %q: DFA %v, regexp %v", re, in, got, want)
	}
}

// FuzzDFAAgrees: for any pattern Go compiles and any input, the DFA (when
// it has one) answers as regexp.Match.
func FuzzDFAAgrees(f *testing.F) {
	for _, p := range dfaPatterns {
		f.Add(p, "2024-05-01 10:00:00")
	}
	f.Fuzz(func(t *testing.T, p, in string) {
		re, err := regexp.Compile(p)
		if err != nil {
			return
		}
		if d := newDFA(re); d != nil {
			checkDFA(t, re, d, in)
		}
	})
}

// TestIsUUIDMatchesFormat: the byte-level uuid check is jsonschema's.
func TestIsUUIDMatchesFormat(t *testing.T) {
	f := jsonschema.Formats["uuid"]
	for _, s := range []string{fastID, strings.ToUpper(fastID), "", "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b1", fastID + "0",
		"0b6f3a52x5a3c-4c59-9ac6-2f2b7f7c1b10", "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b1g", "0b6f3a525a3c4c599ac62f2b7f7c1b10----", "{0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b1}",
		"0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b-0", "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b1\x00"} {
		if got, want := isUUID([]byte(s)), f(s); got != want {
			t.Errorf("%q: isUUID %v, jsonschema %v", s, got, want)
		}
	}
}

func FuzzIsUUID(f *testing.F) {
	f.Add(fastID)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isUUID([]byte(s)), jsonschema.Formats["uuid"](s); got != want {
			t.Fatalf("%q: isUUID %v, jsonschema %v", s, got, want)
		}
	})
}
