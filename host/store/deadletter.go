package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/syncgate"
)

// DeadLetters is the dead-letter collection: the ops /upload rejected,
// recorded with their reason (Record) and handled later by `syncgate
// rejected` and the admin API (List, Get, Mark, Purge, Count; host/rejected).
// A Mongo store's DeadLetters method gives access to it.
type DeadLetters struct {
	coll    *mongo.Collection
	timeout time.Duration
}

// DeadLetters returns the store's dead-letter collection (Options.DeadLetter).
func (m *Mongo) DeadLetters() *DeadLetters { return m.deadLetters }

// RecordRejections stores rejected ops in the dead-letter collection: the
// write path's one use of it, through the store it writes with.
func (m *Mongo) RecordRejections(ctx context.Context, b *syncgate.Batch, rejected []syncgate.Rejection) error {
	return m.deadLetters.Record(ctx, b, rejected)
}

// Record stores rejected ops.
func (dl *DeadLetters) Record(ctx context.Context, b *syncgate.Batch, rejected []syncgate.Rejection) error {
	if len(rejected) == 0 {
		return nil
	}
	byIndex := opsByIndex(b)
	docs := make([]any, 0, len(rejected))
	for _, r := range rejected {
		d := append(recordHead(b, r),
			bson.E{Key: "code", Value: r.Code},
			bson.E{Key: "reason", Value: r.Reason},
			bson.E{Key: "state", Value: syncgate.StateOpen},
		)
		if op, ok := byIndex[r.Index]; ok {
			d = append(d, bson.E{Key: "data", Value: toBSON(op.Data)})
			if op.OpID != nil {
				d = append(d, bson.E{Key: "op_id", Value: op.OpID})
			}
		}
		if r.TxID != nil {
			d = append(d, bson.E{Key: "tx_id", Value: r.TxID})
		}
		// Which stage refused it under which rules set, and the claims the
		// caller had: a replay runs as that caller, and refuses to run under
		// rules that lack the stage (docs/operations.md).
		if r.Stage != "" {
			d = append(d, bson.E{Key: "stage", Value: r.Stage})
		}
		if b.RulesID != "" {
			d = append(d, bson.E{Key: "rules", Value: b.RulesID})
		}
		if len(b.Caller.Claims) > 0 {
			d = append(d, bson.E{Key: "claims", Value: bson.M(b.Caller.Claims)})
		}
		if r.Raw != "" {
			d = append(d, bson.E{Key: "raw", Value: r.Raw})
			if r.RawTruncated {
				d = append(d, bson.E{Key: "raw_truncated", Value: true})
			}
		}
		docs = append(docs, d)
	}
	ctx, cancel := context.WithTimeout(ctx, dl.timeout)
	defer cancel()
	if _, err := dl.coll.InsertMany(ctx, docs); err != nil {
		return classify("record rejections", err)
	}
	return nil
}

// opsByIndex finds a batch's ops by their index in the request.
func opsByIndex(b *syncgate.Batch) map[int]*syncgate.Op {
	byIndex := make(map[int]*syncgate.Op, len(b.Ops))
	for i := range b.Ops {
		byIndex[b.Ops[i].Index] = &b.Ops[i]
	}
	return byIndex
}

// recordHead is what a dead letter and a logged conflict both say of an
// op: which request, who, when, and which op of the batch on which document.
func recordHead(b *syncgate.Batch, r syncgate.Rejection) bson.D {
	return bson.D{
		{Key: "request_id", Value: b.RequestID},
		{Key: "user_id", Value: b.Caller.UserID},
		{Key: "at", Value: b.Received},
		{Key: "index", Value: r.Index},
		{Key: "op", Value: string(r.Op)},
		{Key: "table", Value: r.Table},
		{Key: "id", Value: r.ID},
	}
}

// ErrNoDeadLetter is Get's error for an id that is not recorded.
var ErrNoDeadLetter = &syncgate.Error{Kind: syncgate.NotFound, Code: syncgate.CodeNoSuchRejection, Message: "no such rejected op"}

// EnsureIndexes creates the indexes the rejected-ops queries use
// (by time, and by table, user, code and state over time). Idempotent.
func (dl *DeadLetters) EnsureIndexes(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dl.timeout)
	defer cancel()
	indexes := []struct {
		name string
		keys bson.D
	}{
		{"at", bson.D{{Key: "at", Value: -1}}},
		{"table_at", bson.D{{Key: "table", Value: 1}, {Key: "at", Value: -1}}},
		{"user_at", bson.D{{Key: "user_id", Value: 1}, {Key: "at", Value: -1}}},
		{"code_at", bson.D{{Key: "code", Value: 1}, {Key: "at", Value: -1}}},
		{"state_at", bson.D{{Key: "state", Value: 1}, {Key: "at", Value: -1}}},
	}
	// Only the missing ones: FerretDB v1 drops the connection when asked to
	// create an index that exists.
	iv := dl.coll.Indexes()
	specs, err := iv.ListSpecifications(ctx)
	if err != nil {
		return classify("dead-letter indexes", err)
	}
	have := map[string]bool{}
	for _, s := range specs {
		have[s.Name] = true
	}
	var missing []mongo.IndexModel
	for _, ix := range indexes {
		if !have[ix.name] {
			missing = append(missing, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := iv.CreateMany(ctx, missing); err != nil {
		return classify("dead-letter indexes", err)
	}
	return nil
}

// handledStates are the states that are not open; a record without a state
// (written before states existed) is open.
var handledStates = bson.A{syncgate.StateReplayed, syncgate.StateResolved, syncgate.StateDiscarded}

func deadLetterQuery(f syncgate.DeadLetterFilter) (bson.D, error) {
	q := bson.D{}
	if len(f.IDs) > 0 {
		ids := bson.A{}
		for _, s := range f.IDs {
			oid, err := bson.ObjectIDFromHex(s)
			if err != nil {
				return nil, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "%q is not a rejected op's id", s)
			}
			ids = append(ids, oid)
		}
		q = append(q, bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}})
	}
	for _, kv := range [][2]string{{"table", f.Table}, {"user_id", f.User}, {"code", f.Code}} {
		if kv[1] != "" {
			q = append(q, bson.E{Key: kv[0], Value: kv[1]})
		}
	}
	switch f.State {
	case "", "all":
	case syncgate.StateOpen:
		q = append(q, bson.E{Key: "state", Value: bson.D{{Key: "$nin", Value: handledStates}}})
	case syncgate.StateReplayed, syncgate.StateResolved, syncgate.StateDiscarded:
		q = append(q, bson.E{Key: "state", Value: f.State})
	default:
		return nil, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "unknown state %q (open, replayed, resolved, discarded or all)", f.State)
	}
	at := bson.D{}
	if !f.Since.IsZero() {
		at = append(at, bson.E{Key: "$gte", Value: f.Since})
	}
	if !f.Until.IsZero() {
		at = append(at, bson.E{Key: "$lt", Value: f.Until})
	}
	if len(at) > 0 {
		q = append(q, bson.E{Key: "at", Value: at})
	}
	return q, nil
}

// List returns the recorded rejections f selects, newest first (or
// oldest first with f.Oldest, then in batch order within a request).
func (dl *DeadLetters) List(ctx context.Context, f syncgate.DeadLetterFilter) ([]syncgate.DeadLetter, error) {
	q, err := deadLetterQuery(f)
	if err != nil {
		return nil, err
	}
	dir := -1
	if f.Oldest {
		dir = 1
	}
	o := options.Find().SetSort(bson.D{{Key: "at", Value: dir}, {Key: "request_id", Value: dir}, {Key: "index", Value: dir}, {Key: "_id", Value: dir}})
	if f.Limit > 0 {
		o.SetLimit(int64(f.Limit))
	}
	ctx, cancel := context.WithTimeout(ctx, dl.timeout)
	defer cancel()
	cur, err := dl.coll.Find(ctx, q, o)
	if err != nil {
		return nil, classify("find dead letters", err)
	}
	defer cur.Close(ctx)
	var out []syncgate.DeadLetter
	for cur.Next(ctx) {
		var d bson.D
		if err := cur.Decode(&d); err != nil {
			return nil, classify("read dead letter", err)
		}
		out = append(out, deadLetterFrom(d))
	}
	if err := cur.Err(); err != nil {
		return nil, classify("read dead letters", err)
	}
	return out, nil
}

// Get returns one recorded rejection by its id.
func (dl *DeadLetters) Get(ctx context.Context, id string) (syncgate.DeadLetter, error) {
	all, err := dl.List(ctx, syncgate.DeadLetterFilter{IDs: []string{id}})
	if err != nil {
		return syncgate.DeadLetter{}, err
	}
	if len(all) == 0 {
		return syncgate.DeadLetter{}, ErrNoDeadLetter
	}
	return all[0], nil
}

func deadLetterFrom(d bson.D) syncgate.DeadLetter {
	var dl syncgate.DeadLetter
	dl.State = syncgate.StateOpen
	for _, e := range d {
		switch e.Key {
		case "_id":
			if oid, ok := e.Value.(bson.ObjectID); ok {
				dl.ID = oid.Hex()
			}
		case "request_id":
			dl.RequestID, _ = e.Value.(string)
		case "user_id":
			dl.UserID, _ = e.Value.(string)
		case "at":
			if t, ok := e.Value.(bson.DateTime); ok {
				dl.At = t.Time().UTC()
			}
		case "index":
			dl.Index = int(asInt(e.Value))
		case "op":
			s, _ := e.Value.(string)
			dl.Op = syncgate.OpType(s)
		case "table":
			dl.Table, _ = e.Value.(string)
		case "id":
			dl.DocID, _ = e.Value.(string)
		case "code":
			s, _ := e.Value.(string)
			dl.Code = syncgate.Code(s)
		case "reason":
			dl.Reason, _ = e.Value.(string)
		case "data":
			if v, ok := e.Value.(bson.D); ok {
				dl.Data, _ = fromBSON(v).(syncgate.Doc)
			}
		case "op_id":
			dl.OpID = fromBSON(e.Value)
		case "tx_id":
			dl.TxID = fromBSON(e.Value)
		case "raw":
			dl.Raw, _ = e.Value.(string)
		case "raw_truncated":
			dl.RawTruncated, _ = e.Value.(bool)
		case "stage":
			dl.Stage, _ = e.Value.(string)
		case "rules":
			dl.Rules, _ = e.Value.(string)
		case "claims":
			if v, ok := e.Value.(bson.D); ok {
				dl.Claims = claimsFrom(v)
			}
		case "state":
			if s, _ := e.Value.(string); s != "" {
				dl.State = s
			}
		case "replays":
			dl.Replays = int(asInt(e.Value))
		case "replayed_at":
			if t, ok := e.Value.(bson.DateTime); ok {
				tt := t.Time().UTC()
				dl.ReplayedAt = &tt
			}
		case "result":
			dl.Result, _ = e.Value.(string)
		case "handled_at":
			if t, ok := e.Value.(bson.DateTime); ok {
				tt := t.Time().UTC()
				dl.HandledAt = &tt
			}
		case "note":
			dl.Note, _ = e.Value.(string)
		}
	}
	return dl
}

func asInt(v any) int64 {
	switch v := v.(type) {
	case int32:
		return int64(v)
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

// Mark records what happened to the rejections with ids and
// returns how many it marked. onlyOpen leaves records that are no longer
// open alone, so two replays racing cannot both mark one. One command for
// all of them (FerretDB v1 writes each updated document in ≈ 7–10 ms
// whichever form the update takes).
func (dl *DeadLetters) Mark(ctx context.Context, ids []string, mk syncgate.DeadLetterMark, onlyOpen bool) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	oids := make(bson.A, len(ids))
	for i, id := range ids {
		oid, err := bson.ObjectIDFromHex(id)
		if err != nil {
			return 0, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "%q is not a rejected op's id", id)
		}
		oids[i] = oid
	}
	set := bson.D{{Key: "state", Value: mk.State}}
	if mk.Replayed {
		set = append(set, bson.E{Key: "replayed_at", Value: mk.At}, bson.E{Key: "result", Value: mk.Result})
	} else {
		set = append(set, bson.E{Key: "handled_at", Value: mk.At})
	}
	if mk.Code != "" {
		set = append(set, bson.E{Key: "code", Value: string(mk.Code)}, bson.E{Key: "reason", Value: mk.Reason})
	}
	if mk.Note != "" {
		set = append(set, bson.E{Key: "note", Value: mk.Note})
	}
	upd := bson.D{{Key: "$set", Value: set}}
	if mk.Replayed {
		upd = append(upd, bson.E{Key: "$inc", Value: bson.D{{Key: "replays", Value: 1}}})
	}
	q := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: oids}}}}
	if onlyOpen {
		q = append(q, bson.E{Key: "state", Value: bson.D{{Key: "$nin", Value: handledStates}}})
	}
	ctx, cancel := context.WithTimeout(ctx, dl.timeout)
	defer cancel()
	res, err := dl.coll.UpdateMany(ctx, q, upd)
	if err != nil {
		return 0, classify("mark dead letters", err)
	}
	return res.ModifiedCount, nil
}

// Purge deletes the records older than before in state (""
// or "all": any) and returns how many.
func (dl *DeadLetters) Purge(ctx context.Context, before time.Time, state string) (int64, error) {
	if before.IsZero() {
		return 0, errors.New("store: purge needs a time")
	}
	q, err := deadLetterQuery(syncgate.DeadLetterFilter{State: state, Until: before})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, dl.timeout)
	defer cancel()
	res, err := dl.coll.DeleteMany(ctx, q)
	if err != nil {
		return 0, classify("purge dead letters", err)
	}
	return res.DeletedCount, nil
}

// Count counts the rejections recorded since, by table and code.
func (dl *DeadLetters) Count(ctx context.Context, since time.Time) ([]syncgate.DeadLetterCount, error) {
	ctx, cancel := context.WithTimeout(ctx, dl.timeout)
	defer cancel()
	cur, err := dl.coll.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "at", Value: bson.D{{Key: "$gte", Value: since}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "table", Value: "$table"}, {Key: "code", Value: "$code"}}}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return nil, classify("count dead letters", err)
	}
	var rows []struct {
		ID struct {
			Table string `bson:"table"`
			Code  string `bson:"code"`
		} `bson:"_id"`
		N int64 `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, classify("count dead letters", err)
	}
	out := make([]syncgate.DeadLetterCount, len(rows))
	for i, r := range rows {
		out[i] = syncgate.DeadLetterCount{Table: r.ID.Table, Code: r.ID.Code, Count: r.N}
	}
	return out, nil
}

// claimsFrom reads recorded claims back as the JSON values a token's claims
// decode to (objects as maps, numbers as float64), so a replay's rules see
// them as the client's rules did.
func claimsFrom(d bson.D) map[string]any {
	out := make(map[string]any, len(d))
	for _, e := range d {
		out[e.Key] = claimValue(e.Value)
	}
	return out
}

func claimValue(v any) any {
	switch v := v.(type) {
	case bson.D:
		return claimsFrom(v)
	case bson.A:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = claimValue(x)
		}
		return out
	case int32:
		return float64(v)
	case int64:
		return float64(v)
	default:
		return v
	}
}
