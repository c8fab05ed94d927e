package batch

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Parent documents: what guests declared they read with an op
// (guest.Info.References: a todo's list). The lookup stage reads every
// parent the batch's ops name, one query per parent collection; each guest
// stage that declared references gets, with each op, the parents as the
// batch's earlier ops still going leave them — a list PUT earlier in the
// batch is there, a list deleted earlier is not. An op whose parents came
// from an earlier op of the batch depends on it: if a stage rejects that
// op, the dependent op is rejected too (its check relied on a write that
// will not happen).

// references are the references every guest stage declared.
func (st *state) references() []syncgate.Reference {
	var out []syncgate.Reference
	for _, g := range GuestStages {
		if gs := st.rules.Guests(g); gs != nil {
			for _, r := range gs.References() {
				if !slices.Contains(out, r) {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// lookupParents reads the parents the batch's ops name, one query per
// parent collection — none for the parents named by id whose stored
// documents the lookup read already (a batch writing lists and their todos
// reads each list once).
func (st *state) lookupParents(ctx context.Context, store Store) error {
	refs := st.references()
	if len(refs) == 0 {
		return nil
	}
	keys := map[string]map[string][]any{} // parent → field → values
	add := func(parent, field string, v any) {
		if !lookupable(v) {
			return
		}
		if keys[parent] == nil {
			keys[parent] = map[string][]any{}
		}
		if !slices.Contains(keys[parent][field], v) {
			keys[parent][field] = append(keys[parent][field], v)
		}
	}
	for i := range st.ops {
		op := &st.ops[i]
		for _, r := range refs {
			if r.Table == op.Table {
				for _, v := range st.named(op, r) {
					add(r.Parent, r.Field, v)
				}
			}
		}
	}
	st.parents = map[string]map[string]syncgate.Doc{}
	for _, parent := range slices.Sorted(maps.Keys(keys)) {
		byID := map[string]syncgate.Doc{}
		if ids, only := keys[parent]["_id"]; only && len(keys[parent]) == 1 {
			// Whole, as the lookup reads a parent collection's documents.
			keys[parent]["_id"] = slices.DeleteFunc(ids, func(v any) bool {
				id, ok := v.(string)
				if !ok || !st.lookedUp[key{parent, id}] {
					return false
				}
				if cur, ok := st.current[parent][id]; ok {
					byID[id] = append(syncgate.Doc{{Key: "_id", Value: id}}, cur...)
				}
				return true
			})
			if len(keys[parent]["_id"]) == 0 {
				st.parents[parent] = byID
				continue
			}
		}
		probe := syncgate.Op{Table: parent, ID: "000000000000000000000000"}
		_ = st.rules.PrepareID(&probe) // learns whether the parent's ids are ObjectIds
		docs, err := store.Lookup(ctx, parent, keys[parent], probe.IDType)
		if err != nil {
			return err
		}
		for _, d := range docs {
			id, _ := d.Get("_id")
			byID[fmt.Sprint(id)] = d
		}
		st.parents[parent] = byID
	}
	return nil
}

// named are the values by which op names parents through r: the caller's
// user id, or the column in the op's data and in its stored document.
func (st *state) named(op *syncgate.Op, r syncgate.Reference) []any {
	if r.ByUser {
		return []any{st.b.Caller.UserID}
	}
	var vals []any
	if v, ok := op.Data.Get(r.Column); ok {
		vals = append(vals, v)
	}
	if cur, ok := st.current[op.Table][op.ID]; ok {
		if v, ok := cur.Get(r.Column); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// lookupable reports whether v can name a parent (not null, an object or
// an array).
func lookupable(v any) bool {
	switch v.(type) {
	case string, int64, float64, bool, syncgate.ObjectID:
		return true
	}
	return false
}

// withParents sets each op's Parents for refs, as the batch's earlier ops
// leave the parents, and records what each op's parents depend on.
func (st *state) withParents(refs []syncgate.Reference) {
	isParent := map[string]bool{}
	for _, r := range refs {
		isParent[r.Parent] = true
	}
	overlay := map[string]map[string]syncgate.Doc{} // copied on first write
	docs := func(parent string) map[string]syncgate.Doc {
		if m, ok := overlay[parent]; ok {
			return m
		}
		return st.parents[parent]
	}
	writtenBy := map[key]int{} // parent documents the batch's ops changed so far
	for i := range st.ops {
		op := &st.ops[i]
		var parents map[string][]syncgate.Doc
		for _, r := range refs {
			if r.Table != op.Table {
				continue
			}
			if parents == nil {
				parents = map[string][]syncgate.Doc{}
			}
			want := st.named(op, r)
			pdocs := docs(r.Parent)
			for _, id := range slices.Sorted(maps.Keys(pdocs)) {
				d := pdocs[id]
				got, _ := d.Get(r.Field)
				if !slices.ContainsFunc(want, func(w any) bool { return sameValue(w, got) }) {
					continue
				}
				if !slices.ContainsFunc(parents[r.Parent], func(p syncgate.Doc) bool { v, _ := p.Get("_id"); return v == id }) {
					parents[r.Parent] = append(parents[r.Parent], d)
				}
				if by, ok := writtenBy[key{r.Parent, id}]; ok {
					st.dependsOn(op.Index, by)
				}
			}
			if _, ok := parents[r.Parent]; !ok {
				parents[r.Parent] = []syncgate.Doc{}
			}
		}
		op.Parents = parents
		if !isParent[op.Table] {
			continue
		}
		// This op changes a parent later ops may name.
		m, ok := overlay[op.Table]
		if !ok {
			m = maps.Clone(st.parents[op.Table])
			if m == nil {
				m = map[string]syncgate.Doc{}
			}
			overlay[op.Table] = m
		}
		k := key{op.Table, op.ID}
		switch op.Op {
		case syncgate.Put:
			m[op.ID] = append(syncgate.Doc{{Key: "_id", Value: op.ID}}, op.Data...)
		case syncgate.Patch:
			base, exists := m[op.ID]
			if !exists {
				if cur, ok := st.current[op.Table][op.ID]; ok {
					base, exists = append(syncgate.Doc{{Key: "_id", Value: op.ID}}, cur...), true
				}
			}
			if exists {
				d := append(syncgate.Doc(nil), base...)
				for _, f := range op.Data {
					d.Set(f.Key, f.Value)
				}
				m[op.ID] = d
			}
		case syncgate.Delete:
			delete(m, op.ID)
		}
		writtenBy[k] = op.Index
	}
}

// dependsOn records that op's checks relied on the batch's op dep.
func (st *state) dependsOn(op, dep int) {
	if st.deps == nil {
		st.deps = map[int][]int{}
	}
	if !slices.Contains(st.deps[op], dep) {
		st.deps[op] = append(st.deps[op], dep)
	}
}

// clearParents drops the parents after the stage that read them.
func (st *state) clearParents() {
	for i := range st.ops {
		st.ops[i].Parents = nil
	}
}

// rejectDependents rejects the ops still going that depend on an op
// rejected since from: a PATCH whose document only that PUT creates
// (not_found), an op whose parents that op wrote (forbidden). Each names
// the stage that refused the op it depended on.
func (st *state) rejectDependents(from int) {
	if from == len(st.rejected) || (len(st.createdBy) == 0 && len(st.deps) == 0) {
		return
	}
	for changed := true; changed; {
		changed = false
		gone := map[int]syncgate.Rejection{}
		for _, r := range st.rejected[from:] {
			gone[r.Index] = r
		}
		from = len(st.rejected)
		kept := st.ops[:0]
		for _, op := range st.ops {
			if put, ok := st.createdBy[key{op.Table, op.ID}]; ok && op.Op == syncgate.Patch && put < op.Index {
				if r, rejected := gone[put]; rejected && r.Op == syncgate.Put {
					st.reject(r.Stage, syncgate.PatchNotFound(op))
					changed = true
					continue
				}
			}
			if dep := slices.IndexFunc(st.deps[op.Index], func(d int) bool { _, ok := gone[d]; return ok }); dep >= 0 {
				r := gone[st.deps[op.Index][dep]]
				st.reject(r.Stage, syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: syncgate.CodeForbidden,
					Reason: fmt.Sprintf("it relies on op %d of the batch (%s %s/%s), which was rejected: %s", r.Index, r.Op, r.Table, r.ID, r.Code)})
				changed = true
				continue
			}
			kept = append(kept, op)
		}
		st.ops = kept
	}
}

// sameValue reports whether a value an op names equals a stored one, as
// the client sees them: numbers by value, ObjectIds as their hex text.
func sameValue(a, b any) bool {
	a, b = clientValue(a), clientValue(b)
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y)
		case float64:
			return x == y
		}
	case string, bool:
		return a == b
	}
	return false
}

func clientValue(v any) any {
	if id, ok := v.(syncgate.ObjectID); ok {
		return hex.EncodeToString(id[:])
	}
	return v
}
