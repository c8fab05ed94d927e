package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/syncgate/syncgate/host/schemas"
	"github.com/syncgate/syncgate/host/syncgate"
)

const dbUsage = `usage: syncgate db find TABLE [ID] [--limit N]
  find     print TABLE's documents as JSON (id order, at most --limit, default 20), or the one with ID,
           as a PowerSync client sees them; the database is MONGO_URI's, or the embedded one
           (the running server's at DEV_DB_ADDR when it is up)`

// dbCmd runs `syncgate db …`: a look at the data without mongosh.
func dbCmd(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	if done, err := subcommandUsage(args, dbUsage, "db: which command?", stdout); done {
		return err
	}
	if args[0] != "find" {
		return usageError{fmt.Sprintf("db: unknown command %q\n%s", args[0], dbUsage)}
	}
	fs := flag.NewFlagSet("db find", flag.ContinueOnError)
	fs.SetOutput(stderr)
	limit := fs.Int("limit", 20, "at most N documents")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), dbUsage) }
	var pos []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return usageError{"db find: " + err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) == 0 || len(pos) > 2 {
		return usageError{"db find: want TABLE and at most one ID\n" + dbUsage}
	}
	if *limit < 1 {
		return usageError{"db find: --limit must be at least 1"}
	}
	table := pos[0]
	if strings.ContainsAny(table, "$\x00") || strings.HasPrefix(table, "system.") {
		return usageError{fmt.Sprintf("db find: %q is not a collection name", table)}
	}
	cfg, st, closeStore, err := commandDatabase(ctx, env, "db find", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	if len(pos) == 2 {
		op := syncgate.Op{Table: table, ID: pos[1]}
		// An id the schema stores as an ObjectId is looked up as one.
		if set, err := schemas.Load(cfg.SchemasDir); err == nil {
			if err := set.PrepareID(&op); err != nil {
				return usageError{"db find: " + err.Error()}
			}
		}
		found, err := st.Current(ctx, []syncgate.Op{op}, nil)
		if err != nil {
			return fmt.Errorf("db find: %w", err)
		}
		doc, ok := found[table][op.ID]
		if !ok {
			return fmt.Errorf("db find: %s/%s: no such document", table, op.ID)
		}
		return writeJSON(stdout, withID(op.ID, doc))
	}
	docs, err := st.Dump(ctx, table, "")
	if err != nil {
		return fmt.Errorf("db find: %w", err)
	}
	ids := slices.Sorted(maps.Keys(docs))
	out := []syncgate.Doc{}
	for _, id := range ids[:min(len(ids), *limit)] {
		out = append(out, withID(id, docs[id]))
	}
	if err := writeJSON(stdout, out); err != nil {
		return err
	}
	if len(ids) > *limit {
		fmt.Fprintf(stderr, "db find: %d of %d documents (--limit %d)\n", *limit, len(ids), *limit)
	}
	return nil
}

// withID is doc with its id first, as a client row has it.
func withID(id string, doc syncgate.Doc) syncgate.Doc {
	return append(syncgate.Doc{{Key: "id", Value: id}}, doc...)
}
