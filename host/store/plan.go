package store

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Planning: pure functions that turn a batch into the write commands apply.go
// sends (which ops share a command, in what order, the BSON of each
// statement, how a long batch splits into transactions). No database here:
// plan_test.go tests them alone.

// TxnParts splits ops into runs of at most maxOps ops and maxBytes of
// estimated BSON, in order; an op larger than maxBytes is a run by itself.
func TxnParts(ops []syncgate.Op, maxOps, maxBytes int) [][]syncgate.Op {
	var parts [][]syncgate.Op
	start, size := 0, 0
	for i, op := range ops {
		n := opSize(op)
		if i > start && (i-start >= maxOps || size+n > maxBytes) {
			parts = append(parts, ops[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(parts, ops[start:])
}

// opSize estimates an op's share of a transaction: its document's BSON and
// the statement around it.
func opSize(op syncgate.Op) int {
	b, err := appendFields(nil, op.Data)
	if err != nil {
		return 64 + len(op.ID)
	}
	return len(b) + 64 + len(op.ID) + len(op.Table)
}

// plan splits one collection's ops into write commands of one kind each
// (the driver sends a run of updates as one update command and a run of
// deletes as one delete command, so ops in their batch order would cost a
// round trip per run: ~40 commands for a mixed batch of 100). Ops on
// different documents commute except through a unique secondary index,
// where a delete can free a value a later write takes; so:
//
//   - replacements and $sets keep their order among themselves and stay
//     after every delete that came before them: each goes into the last
//     command when that is an update command, else into a new one;
//   - a delete moves earlier, into the first delete command after the one
//     holding its document's previous op (the first of all when the batch
//     did not touch the document before). Moving a delete earlier only
//     frees unique values sooner: a write that would have hit a duplicate
//     key with the value the delete frees now succeeds — the state the
//     client's batch asked for;
//   - an update command ends before a replacement of a document it
//     PATCHes, so that a PATCH's document is there after the command if
//     and only if it was there at the PATCH (missedPatches);
//   - a command holds at most chunk statements.
//
// Every document's ops stay in batch order. A typical mixed batch becomes
// one update and one delete command per collection.
func plan(ops []syncgate.Op, chunk int) [][]syncgate.Op {
	type command struct {
		del bool
		ops []syncgate.Op
	}
	// The first command takes the deletes of documents the batch did not
	// touch before (dropped if none).
	cmds := []command{{del: true}}
	last := make(map[string]int, len(ops)) // document → command of its latest op
	var patched map[string]bool            // documents PATCHed in the last command
	for _, op := range ops {
		prev, seen := last[op.ID]
		if !seen {
			prev = -1
		}
		if op.Op == syncgate.Delete {
			at := -1
			for i := prev + 1; i < len(cmds); i++ {
				if cmds[i].del && len(cmds[i].ops) < chunk {
					at = i
					break
				}
			}
			if at < 0 {
				cmds = append(cmds, command{del: true})
				at = len(cmds) - 1
			}
			cmds[at].ops = append(cmds[at].ops, op)
			last[op.ID] = at
			continue
		}
		n := len(cmds) - 1
		if cmds[n].del || len(cmds[n].ops) >= chunk || op.Op == syncgate.Put && patched[op.ID] {
			cmds = append(cmds, command{})
			n++
			patched = nil
		}
		cmds[n].ops = append(cmds[n].ops, op)
		last[op.ID] = n
		if op.Op == syncgate.Patch {
			if patched == nil {
				patched = map[string]bool{}
			}
			patched[op.ID] = true
		}
	}
	out := make([][]syncgate.Op, 0, len(cmds))
	for _, c := range cmds {
		if len(c.ops) > 0 {
			out = append(out, c.ops)
		}
	}
	return out
}

// byCollection splits ops into one run per collection, in the order each
// collection first appears, keeping the ops' order within each. A batch of
// one collection is returned as it is.
func byCollection(ops []syncgate.Op) [][]syncgate.Op {
	single := true
	for i := 1; i < len(ops) && single; i++ {
		single = ops[i].Table == ops[0].Table
	}
	if single {
		return [][]syncgate.Op{ops}
	}
	// Count each collection's ops (in order of first appearance), then fill
	// one array.
	type group struct {
		table    string
		n, start int
	}
	var groups []group
	index := make(map[string]int, 4)
	at := make([]int, len(ops)) // op → its group
	for i, op := range ops {
		g, ok := index[op.Table]
		if !ok {
			g = len(groups)
			index[op.Table] = g
			groups = append(groups, group{table: op.Table})
		}
		groups[g].n++
		at[i] = g
	}
	out := make([][]syncgate.Op, len(groups))
	all := make([]syncgate.Op, 0, len(ops))
	for g := range groups {
		groups[g].start = len(all)
		all = all[:len(all)+groups[g].n]
		out[g] = all[groups[g].start:groups[g].start:len(all)]
	}
	for i, op := range ops {
		out[at[i]] = append(out[at[i]], op)
	}
	return out
}

// writeModels are ops as the driver's write models, their BSON built in one
// buffer and the models in one slice per kind (a command's worth of small
// allocations would be three per op).
func writeModels(ops []syncgate.Op) ([]mongo.WriteModel, error) {
	size := 0
	for _, op := range ops {
		size += 2*len(op.ID) + 32 + opDataSize(op.Data)
	}
	buf := make([]byte, 0, size)
	type span struct{ filter, doc [2]int }
	spans := make([]span, len(ops))
	var err error
	for i, op := range ops {
		start := len(buf)
		if buf, err = appendFilter(buf, op); err != nil {
			return nil, err
		}
		spans[i].filter = [2]int{start, len(buf)}
		start = len(buf)
		switch op.Op {
		case syncgate.Put:
			buf, err = appendReplacement(buf, op)
		case syncgate.Patch:
			buf, err = appendSet(buf, op)
		case syncgate.Delete:
		default:
			return nil, fmt.Errorf("store: unknown op %q", op.Op)
		}
		if err != nil {
			return nil, err
		}
		spans[i].doc = [2]int{start, len(buf)}
	}
	// The buffer is complete: slices of it stay valid.
	raw := func(s [2]int) bson.Raw { return bson.Raw(buf[s[0]:s[1]:s[1]]) }
	upsert := true
	var puts []mongo.ReplaceOneModel
	var patches []mongo.UpdateOneModel
	var deletes []mongo.DeleteOneModel
	models := make([]mongo.WriteModel, len(ops))
	for i, op := range ops {
		switch op.Op {
		case syncgate.Put:
			if puts == nil {
				puts = make([]mongo.ReplaceOneModel, 0, len(ops))
			}
			puts = append(puts, mongo.ReplaceOneModel{Filter: raw(spans[i].filter), Replacement: raw(spans[i].doc), Upsert: &upsert})
			models[i] = &puts[len(puts)-1]
		case syncgate.Patch:
			if patches == nil {
				patches = make([]mongo.UpdateOneModel, 0, len(ops))
			}
			patches = append(patches, mongo.UpdateOneModel{Filter: raw(spans[i].filter), Update: raw(spans[i].doc)})
			models[i] = &patches[len(patches)-1]
		default:
			if deletes == nil {
				deletes = make([]mongo.DeleteOneModel, 0, len(ops))
			}
			deletes = append(deletes, mongo.DeleteOneModel{Filter: raw(spans[i].filter)})
			models[i] = &deletes[len(deletes)-1]
		}
	}
	return models, nil
}

// opDataSize estimates d's BSON size, to size one buffer for a command.
func opDataSize(d syncgate.Doc) int {
	n := 16
	for _, f := range d {
		n += len(f.Key) + 16
		if s, ok := f.Value.(string); ok {
			n += len(s)
		}
	}
	return n
}
