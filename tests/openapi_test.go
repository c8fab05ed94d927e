package tests

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestOpenAPIMatchesServer: the routes the server registers are the spec's
// paths and methods, every error code is in the ErrorCode enum, and every
// rejection code syncgate itself sends is among RejectionCode's examples.
// RejectionCode is an open set: a guest's own codes are data, so the spec
// must not close it with an enum and this test never asks for them.
func TestOpenAPIMatchesServer(t *testing.T) {
	env := baseEnv(t)
	env["ADMIN_API_KEYS"] = "admin-key-for-the-openapi-test" // the admin routes are in the spec too
	env["ATTACHMENTS"] = "true"                              // and the attachment routes
	a := start(t, env)
	spec := get(t, a.url+"/openapi.yaml")
	if spec.status != 200 || !strings.HasPrefix(string(spec.body), "openapi: 3.1") {
		t.Fatalf("/openapi.yaml: %d", spec.status)
	}
	var parsed map[string]any
	if err := yaml.Unmarshal(spec.body, &parsed); err != nil {
		t.Fatalf("/openapi.yaml is not valid YAML: %v", err)
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

	// Every code syncgate sends is in the spec's list of its kind.
	errorCodes := specList(t, spec.body, "ErrorCode", "enum")
	rejectionCodes := specList(t, spec.body, "RejectionCode", "examples")
	if slices.Contains(specKeywords(spec.body, "RejectionCode"), "enum") {
		t.Error("docs/openapi.yaml closes RejectionCode with an enum; guests add their own codes, so it is an open set (examples)")
	}
	for _, c := range syncgate.ErrorCodes() {
		if !slices.Contains(errorCodes, string(c)) {
			t.Errorf("error code %q is not in docs/openapi.yaml's ErrorCode", c)
		}
	}
	for _, c := range syncgate.RejectionCodes() {
		if !slices.Contains(rejectionCodes, string(c)) {
			t.Errorf("rejection code %q is not in docs/openapi.yaml's RejectionCode", c)
		}
	}
	for _, c := range rejectionCodes {
		if !slices.Contains(syncgate.RejectionCodes(), syncgate.Code(c)) {
			t.Errorf("docs/openapi.yaml's RejectionCode example %q is not a code syncgate sends", c)
		}
	}
	for _, c := range errorCodes {
		if !slices.Contains(syncgate.ErrorCodes(), syncgate.Code(c)) {
			t.Errorf("docs/openapi.yaml's ErrorCode %q is not a syncgate.Code", c)
		}
	}
}

// specKeywords lists the keywords directly under components/schemas/name.
func specKeywords(spec []byte, name string) []string {
	lines := strings.Split(string(spec), "\n")
	var out []string
	for i, line := range lines {
		if line != "    "+name+":" {
			continue
		}
		for _, l := range lines[i+1:] {
			if !strings.HasPrefix(l, "      ") {
				break
			}
			if k, _, ok := strings.Cut(l[6:], ":"); ok && !strings.HasPrefix(k, " ") {
				out = append(out, k)
			}
		}
	}
	return out
}

// specList reads the list under keyword (enum, examples) of
// components/schemas/name, written either inline (enum: [a, b]) or as a
// list (- a).
func specList(t *testing.T, spec []byte, name, keyword string) []string {
	t.Helper()
	lines := strings.Split(string(spec), "\n")
	for i, line := range lines {
		if line != "    "+name+":" {
			continue
		}
		var out []string
		in := false
		for _, l := range lines[i+1:] {
			if !strings.HasPrefix(l, "      ") {
				break
			}
			if v, ok := strings.CutPrefix(l, "      "+keyword+": ["); ok {
				for _, c := range strings.Split(strings.TrimSuffix(v, "]"), ",") {
					out = append(out, strings.TrimSpace(c))
				}
				break
			}
			if l == "      "+keyword+":" {
				in = true
				continue
			}
			if v, ok := strings.CutPrefix(l, "        - "); ok && in {
				out = append(out, v)
				continue
			}
			in = false
		}
		if len(out) == 0 {
			t.Fatalf("no %s under %s in docs/openapi.yaml", keyword, name)
		}
		return out
	}
	t.Fatalf("no %s in docs/openapi.yaml", name)
	return nil
}
