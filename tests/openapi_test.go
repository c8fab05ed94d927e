package tests

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestOpenAPIMatchesServer: the routes the server registers are the spec's
// paths and methods, and every error and rejection code (syncgate.Code) is
// in the spec's list of its kind.
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

	// Every code syncgate sends is in the spec's list of its kind.
	errorCodes := specEnum(t, spec.body, "ErrorCode")
	rejectionCodes := specEnum(t, spec.body, "RejectionCode")
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
	for _, c := range errorCodes {
		if !slices.Contains(syncgate.ErrorCodes(), syncgate.Code(c)) {
			t.Errorf("docs/openapi.yaml's ErrorCode %q is not a syncgate.Code", c)
		}
	}
}

// specEnum reads the enum of components/schemas/name, written either
// inline (enum: [a, b]) or as a list (- a).
func specEnum(t *testing.T, spec []byte, name string) []string {
	t.Helper()
	lines := strings.Split(string(spec), "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) != name+":" {
			continue
		}
		var out []string
		for _, l := range lines[i+1:] {
			l = strings.TrimSpace(l)
			if v, ok := strings.CutPrefix(l, "enum: ["); ok {
				for _, c := range strings.Split(strings.TrimSuffix(v, "]"), ",") {
					out = append(out, strings.TrimSpace(c))
				}
				return out
			}
			if v, ok := strings.CutPrefix(l, "- "); ok {
				out = append(out, v)
				continue
			}
			if len(out) > 0 || (l != "enum:" && !strings.HasPrefix(l, "type:") && !strings.HasPrefix(l, "description:")) {
				break
			}
		}
		if len(out) == 0 {
			t.Fatalf("no enum under %s in docs/openapi.yaml", name)
		}
		return out
	}
	t.Fatalf("no %s in docs/openapi.yaml", name)
	return nil
}
