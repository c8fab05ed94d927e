package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesServer: the routes the server registers are the spec's
// paths and methods, and every error code the code can emit is in the spec.
func TestOpenAPIMatchesServer(t *testing.T) {
	a := start(t, baseEnv(t))
	spec := get(t, a.url+"/openapi.yaml")
	if spec.status != 200 || !strings.HasPrefix(string(spec.body), "openapi: 3.1") {
		t.Fatalf("/openapi.yaml: %d", spec.status)
	}
	var served []string
	for _, line := range strings.Split(a.logs.String(), "\n") {
		var rec struct {
			Msg    string
			Routes []string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			served = rec.Routes
		}
	}
	var specified []string
	path := ""
	for _, line := range strings.Split(string(spec.body), "\n") {
		if m := regexp.MustCompile(`^  (/\S*):$`).FindStringSubmatch(line); m != nil {
			path = m[1]
			continue
		}
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "components") {
			path = ""
		}
		if m := regexp.MustCompile(`^    (get|post|put|patch|delete):$`).FindStringSubmatch(line); m != nil && path != "" {
			specified = append(specified, strings.ToUpper(m[1])+" "+path)
		}
	}
	slices.Sort(specified)
	if len(served) == 0 || !slices.Equal(served, specified) {
		t.Fatalf("routes differ:\n served    %v\n specified %v", served, specified)
	}

	// Every code literal in the host and the stock guest sources.
	codeRE := regexp.MustCompile(`(?:Errorf\(syncgate\.[A-Za-z]+, |Code: +|invalid\(|Reject\(|reject\(i, |Code = |code := )"([a-z][a-z0-9_]+)"|return "([a-z][a-z0-9_]+)", "`)
	codes := map[string]bool{}
	for _, root := range []string{"../host", "../guest/schemagate", "../guest/examples"} {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "testdata") {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, m := range codeRE.FindAllStringSubmatch(string(b), -1) {
				codes[m[1]+m[2]] = true // one of the two groups matched
			}
			return nil
		})
	}
	if len(codes) < 30 {
		t.Fatalf("found only %d codes: the scan is broken", len(codes))
	}
	for c := range codes {
		if !regexp.MustCompile(`(?m)(- ` + c + `$|[\[ ]` + c + `[,\]])`).Match(spec.body) {
			t.Errorf("error code %q is not in docs/openapi.yaml", c)
		}
	}
}
