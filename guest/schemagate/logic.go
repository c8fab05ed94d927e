package main

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/schemagate/schemaset"
)

// gate validates ops against the schema set.
type gate struct{ set *schemaset.Set }

func newGate(fsys fs.FS) (*gate, error) {
	set, err := schemaset.Load(fsys)
	if err != nil {
		return nil, err
	}
	return &gate{set: set}, nil
}

// handle checks PUTs as the row (id plus data) and PATCHes as the merged
// document (stored document with the patch applied). DELETEs pass. A table
// without a schema follows the unknown_table setting: reject (the default
// when any schema exists) or allow.
func (g *gate) handle(op *guest.Op) guest.Verdict {
	if op.Op == "DELETE" {
		return guest.Accept()
	}
	if !g.set.Has(op.Table) {
		policy := op.Settings["unknown_table"]
		if policy == "" && g.set.Len() > 0 {
			policy = "reject"
		}
		if policy == "reject" {
			return guest.Reject("unknown_table", fmt.Sprintf("table %q has no schema (schemas/%s.json)", op.Table, op.Table))
		}
		return guest.Accept()
	}
	doc := make(map[string]any, len(op.Data)+len(op.Current)+1)
	if op.Op == "PATCH" {
		for k, v := range op.Current {
			doc[k] = v
		}
	}
	for k, v := range op.Data {
		doc[k] = v
	}
	doc["id"] = op.ID
	if v := g.set.Validate(op.Table, doc); len(v) > 0 {
		what := "document"
		if op.Op == "PATCH" {
			what = "document after the PATCH"
		}
		return guest.Reject("schema_violation", fmt.Sprintf("%s does not match schemas/%s.json: %s", what, op.Table, strings.Join(v, "; ")))
	}
	return guest.Accept()
}
