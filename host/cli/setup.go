package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/syncgate/syncgate/docs"
	"github.com/syncgate/syncgate/host/auth"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/sandbox"
)

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// keySource is where cfg says the keys come from.
func keySource(cfg config.Config) auth.KeySource {
	ks := auth.KeySource{PublicKey: cfg.PublicKey, PrivateKey: cfg.PrivateKey, Extra: cfg.PublicKeysExtra}
	if cfg.Dev() {
		ks.DevDir = cfg.StateDir
	}
	return ks
}

// configure reads the configuration and the keys it names, and reports
// every problem of both at once, one per line.
func configure(env map[string]string) (config.Config, error) {
	cfg, err := config.Parse(env)
	_, _, keyErrs := keySource(cfg).Parse()
	var lines []string
	var problems interface{ Unwrap() []error }
	switch {
	case errors.As(err, &problems): // config.Parse joins its problems
		for _, e := range problems.Unwrap() {
			lines = append(lines, e.Error())
		}
	case err != nil:
		lines = append(lines, err.Error())
	}
	for _, e := range keyErrs {
		lines = append(lines, e.Error())
	}
	switch len(lines) {
	case 0:
		return cfg, nil
	case 1:
		return cfg, fmt.Errorf("config: %s", lines[0])
	}
	return cfg, fmt.Errorf("config: %d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// tokenAuth builds the /token authoriser for cfg.TokenMode(), with the
// claims TOKEN_CLAIMS allows.
func tokenAuth(cfg config.Config) (auth.TokenAuth, error) {
	switch cfg.TokenMode() {
	case "api-key":
		return auth.NewAPIKeys(cfg.APIKeys()).WithClaims(cfg.Claims())
	case "jwks":
		return auth.NewUpstream(cfg.UpstreamJWKS, cfg.UpstreamIssuer, cfg.UpstreamAud, cfg.UpstreamClaim, nil).WithClaims(cfg.Claims())
	}
	names, err := auth.NewClaimNames(cfg.Claims())
	return auth.Dev{Claims: names}, err
}

func openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(docs.OpenAPI)
	return err
}

// newRuntime is the guests' wazero runtime with cfg's limits.
func newRuntime(ctx context.Context, cfg config.Config, output io.Writer, observe func(string, time.Duration)) (*sandbox.Runtime, error) {
	deadlines, err := sandbox.ParseDeadlineMode(cfg.GuestDeadlines)
	if err != nil {
		return nil, err
	}
	return sandbox.NewRuntime(ctx, sandbox.RuntimeConfig{
		CacheDir:  filepath.Join(cfg.StateDir, "wazero-cache"),
		Limits:    sandbox.Limits{MemoryMiB: cfg.GuestMemory, Timeout: cfg.GuestTimeout, MaxOutput: cfg.GuestOutput, TableEntries: uint32(cfg.GuestTable)},
		Output:    output,
		Observe:   observe,
		Deadlines: deadlines,
	})
}

// reportReload logs what the reload watcher did.
func reportReload(log *slog.Logger, pool int) func(live.Event) {
	return func(e live.Event) {
		switch e.Kind {
		case live.Loading:
			log.Info("loading guests and schemas (guests are compiled once per build; the first start takes seconds)", "pool", pool)
		case live.Loaded:
			log.Info("guests loaded", "pipeline", e.Rules.Describe(), "pool", pool, "took", e.Took.Round(time.Millisecond), "rules_id", e.Rules.ID())
		case live.LoadFailed:
			log.Error("guests failed to load", "err", e.Err)
		case live.Reloading:
			log.Info("reloading guests and schemas", "why", e.Why)
		case live.Reloaded:
			log.Info("reloaded", "pipeline", e.Rules.Describe(), "tables", slices.Sorted(maps.Keys(e.Rules.Tables())), "rules_id", e.Rules.ID())
		case live.ReloadFailed:
			log.Error("reload failed; the previous guests and schemas stay live", "err", e.Err)
		}
		if e.Kind == live.Loaded || e.Kind == live.Reloaded {
			for _, w := range e.Rules.Warnings() {
				log.Warn(w)
			}
			for _, n := range e.Rules.Notes() {
				log.Info(n)
			}
		}
	}
}

// sighup forwards SIGHUP as a reload trigger until ctx ends.
func sighup(ctx context.Context) <-chan string {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	triggers := make(chan string)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case triggers <- "SIGHUP":
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return triggers
}
