package syncscope

// EvalWhere evaluates a stream query's WHERE clause over one row for the
// external SQLite comparison test: 1 true, 0 false, -1 NULL.
func EvalWhere(where string, row map[string]any, user User) (int, error) {
	return EvalWhereParents(where, row, user, nil)
}

// EvalWhereParents is EvalWhere with parent lookups.
func EvalWhereParents(where string, row map[string]any, user User, parents func(table, column string, value any) []map[string]any) (int, error) {
	q, err := parseQuery("SELECT * FROM t WHERE "+where, modeStream)
	if err != nil {
		return 0, err
	}
	e := &env{in: &Input{User: user, Parents: parents}, row: row, table: "t", doc: row}
	t, _, err := e.cond(q.where)
	switch {
	case err != nil:
		return 0, err
	case t == tTrue:
		return 1, nil
	case t == tNull:
		return -1, nil
	}
	return 0, nil
}

// JSONText exposes the JSON text a nested value has in PowerSync's view.
func JSONText(x any) (string, error) { return jsonText(x) }
