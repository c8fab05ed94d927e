package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/schemas"
	"github.com/syncgate/syncgate/host/store"
)

const schemasUsage = `usage: syncgate schemas check|export|apply [flags]
  check    compile every schema in SCHEMAS_DIR and print each problem with file and place
  export   print each collection's MongoDB $jsonSchema validator and what it cannot express
  apply    set those validators on MONGO_URI's collections (create or collMod)
           --level strict|moderate (default moderate)  --action error|warn (default error)`

func schemasCmd(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	if done, err := subcommandUsage(args, schemasUsage, "schemas: which command?", stdout); done {
		return err
	}
	cfg, err := config.Parse(env)
	if err != nil {
		return err
	}
	// check also lints (what compiles but cannot work); export and apply
	// need only schemas that load.
	set, problems := schemas.Check(cfg.SchemasDir)
	if args[0] != "check" && set != nil {
		problems = nil
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, problems) // one line per problem, each with file and place
		return fmt.Errorf("schemas %s: %s has problems (listed above); fix them and run ./bin/syncgate schemas check", args[0], cfg.SchemasDir)
	}
	switch args[0] {
	case "check":
		fmt.Fprintf(stdout, "%s: %d schemas OK (%v)\n", cfg.SchemasDir, len(set.Tables()), set.Tables())
		return nil
	case "export":
		out, err := set.ExportAll()
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	case "apply":
		fs := flag.NewFlagSet("schemas apply", flag.ContinueOnError)
		fs.SetOutput(stderr)
		level := fs.String("level", "moderate", "validationLevel: strict or moderate")
		action := fs.String("action", "error", "validationAction: error or warn")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err.Error()}
		}
		if (*level != "strict" && *level != "moderate") || (*action != "error" && *action != "warn") {
			return usageError{"schemas apply: --level strict|moderate, --action error|warn"}
		}
		if err := needDatabase(cfg); err != nil {
			return err
		}
		return applyValidators(ctx, cfg, set, *level, *action, stdout, stderr)
	}
	return usageError{fmt.Sprintf("schemas: unknown command %q\n%s", args[0], schemasUsage)}
}

func applyValidators(ctx context.Context, cfg config.Config, set *schemas.Set, level, action string, stdout, stderr io.Writer) error {
	uri, closeDB, err := commandURI(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	st, err := store.Open(uri, cfg.Database, store.Options{Timeout: cfg.DBTimeout})
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	if _, err := st.Detect(ctx); err != nil {
		return fmt.Errorf("schemas apply: %w", err)
	}
	out, err := set.ExportAll()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := st.ApplyValidator(ctx, n, out[n].Validator, level, action); err != nil {
			if errors.Is(err, store.ErrNoValidators) {
				return fmt.Errorf("schemas apply: %w (the schema gate still enforces every schema on /upload)", err)
			}
			return fmt.Errorf("schemas apply %s: %w", n, err)
		}
		fmt.Fprintf(stdout, "%s: validator applied (level %s, action %s; %d keywords not expressible)\n", n, level, action, len(out[n].Unsupported))
	}
	return nil
}
