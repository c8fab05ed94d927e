package main

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/syncgate/syncgate/guest/raw"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/schemagate/schemaset"
)

// gate validates ops against the schema set. It remembers the last table
// it looked up (a batch's ops come in runs of one table; inside wasm a map
// lookup hashes the name in software), so one gate serves one goroutine.
type gate struct {
	set       *schemaset.Set
	lastName  string
	last      schemaset.Table
	lastFound bool
}

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
//
// It is registered with RawData and reads the op's JSON bytes: a row
// the fast path proves valid is accepted without decoding it; any other
// row is decoded and validated by jsonschema/v5, which decides (see
// schemaset/fast.go).
func (g *gate) handle(op *guest.Op) guest.Verdict {
	if op.Op == guest.OpDelete {
		return guest.Accept()
	}
	if op.Table != g.lastName || g.lastName == "" {
		g.lastName = op.Table
		g.last, g.lastFound = g.set.Table(op.Table)
	}
	if !g.lastFound {
		policy := op.Settings["unknown_table"]
		if policy == "" && g.set.Len() > 0 {
			policy = "reject"
		}
		if policy == "reject" {
			return guest.Reject("unknown_table", fmt.Sprintf("table %q has no schema (schemas/%s.json)", op.Table, op.Table))
		}
		return guest.Accept()
	}
	row, members := op.RawData, op.DataMembers()
	merge := op.Op == guest.OpPatch && op.RawCurrent != nil
	if merge {
		var err error
		if members, err = op.MergedMembers(); err != nil {
			return guest.Reject("schema_violation", "document after the PATCH is not a JSON object: "+err.Error())
		}
	}
	if g.last.MembersValid(members, op.ID) {
		return guest.Accept()
	}
	if merge { // jsonschema/v5 decides from the merged document's text
		var err error
		if row, err = raw.MergeObjects(op.RawCurrent, op.RawData); err != nil {
			return guest.Reject("schema_violation", "document after the PATCH is not a JSON object: "+err.Error())
		}
	}
	doc, err := raw.DecodeObject(row)
	if err != nil {
		return guest.Reject("schema_violation", "data is not a JSON object: "+err.Error())
	}
	doc["id"] = op.ID
	if v := g.set.Validate(op.Table, doc); len(v) > 0 {
		what := "document"
		if op.Op == guest.OpPatch {
			what = "document after the PATCH"
		}
		return guest.Reject("schema_violation", fmt.Sprintf("%s does not match schemas/%s.json: %s", what, op.Table, strings.Join(v, "; ")))
	}
	return guest.Accept()
}
