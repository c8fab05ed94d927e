// Package cli is the syncgate command: it parses arguments and the
// environment, wires the host packages together and runs them. The binary's
// main and the end-to-end tests both call Run, so what the tests start is
// what users run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/syncgate/syncgate/host/auth"
	"github.com/syncgate/syncgate/host/config"
)

// Version is set at build time with -ldflags "-X …cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Run runs the syncgate command with args (without the program name) and
// returns the process exit code. getenv is the only source of configuration.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return run(ctx, args, getenv, "", stdout, stderr)
}

// run is Run; dotenv, when set, says what was read from a .env file (the
// commands that read the configuration print it).
func run(ctx context.Context, args []string, getenv func(string) string, dotenv string, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		usage(stdout)
		return 0
	}
	if dotenv != "" && (cmd == "schemas" || cmd == "rejected" || cmd == "db" || cmd == "attachments") && !helpAsked(rest) {
		fmt.Fprintln(stderr, "syncgate: "+dotenv)
	}
	var err error
	switch cmd {
	case "serve":
		if helpAsked(rest) {
			usage(stdout)
			return 0
		}
		err = serve(ctx, environ(getenv), dotenv, stderr)
	case "keys":
		err = keysCmd(rest, stdout, stderr)
	case "schemas":
		err = schemasCmd(ctx, rest, environ(getenv), stdout, stderr)
	case "rejected":
		err = rejectedCmd(ctx, rest, environ(getenv), stdout, stderr)
	case "rules":
		err = rulesCmd(rest, getenv, stdout, stderr)
	case "import":
		err = importCmd(rest, getenv, stdout, stderr)
	case "db":
		err = dbCmd(ctx, rest, environ(getenv), stdout, stderr)
	case "attachments":
		err = attachmentsCmd(ctx, rest, environ(getenv), stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "syncgate %s (%s)\n", version(), buildKind)
		return 0
	default:
		fmt.Fprintf(stderr, "syncgate: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "syncgate: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "syncgate: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "help" {
			return true
		}
	}
	return false
}

// environ reads every variable Config knows through getenv.
func environ(getenv func(string) string) map[string]string {
	m := map[string]string{}
	for _, v := range config.Variables() {
		if val := getenv(v.Name); val != "" {
			m[v.Name] = val
		}
	}
	return m
}

func usage(w io.Writer) {
	fmt.Fprint(w, `syncgate: a PowerSync backend for MongoDB with sandboxed WebAssembly write rules.

Usage:
  syncgate [serve]                 start the server (the default)
  syncgate keys generate [--alg RS256|ES256|EdDSA] [--kid ID]
                                   print a new POWERSYNC_PUBLIC_KEY / POWERSYNC_PRIVATE_KEY pair
  syncgate schemas check           compile every schema in SCHEMAS_DIR, report problems
  syncgate schemas export          print each collection's MongoDB $jsonSchema validator
  syncgate schemas apply           apply those validators to MONGO_URI
  syncgate rejected list|show|replay|resolve|discard|purge
                                   recorded rejections: inspect, replay through the current rules, mark, purge
                                   (syncgate rejected help)
  syncgate rules check|explain     check RULES_DIR's App Services rules; explain one write's decision
                                   (syncgate rules help)
  syncgate import appservices DIR  turn an exported App Services app into rules/ and schemas/
  syncgate db find TABLE [ID] [--limit N]
                                   print documents as JSON (a look at the data without mongosh)
  syncgate attachments list|purge --orphans
                                   stored attachments; delete those no document references (ATTACHMENT_REFS)
  syncgate version                 print the version
  syncgate help                    this text

Environment (also read from .env in the working directory, the environment winning):
`)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, v := range config.Variables() {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Help)
	}
	tw.Flush()
}

const keysUsage = "usage: syncgate keys generate [--alg RS256|ES256|EdDSA] [--kid ID]"

func keysCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "generate" {
		return usageError{keysUsage}
	}
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", "RS256", "signing algorithm: RS256, ES256 or EdDSA")
	kid := fs.String("kid", "", "key id (default: derived from the key)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), keysUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		return usageError{"keys generate: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("keys generate: unexpected argument %q", fs.Arg(0))}
	}
	k, err := auth.Generate(*alg, *kid)
	if err != nil {
		return usageError{"keys generate: " + err.Error()}
	}
	pub, priv, err := k.EnvLines()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "POWERSYNC_PUBLIC_KEY=%s\nPOWERSYNC_PRIVATE_KEY=%s\n", pub, priv)
	return nil
}

// subcommandUsage prints a command's text when args name no subcommand or ask for
// help: done says the command ends there, with a usage error (missing is
// what was missing) or nothing (help asked for).
func subcommandUsage(args []string, text, missing string, stdout io.Writer) (done bool, err error) {
	if len(args) > 0 && !helpAsked(args[:1]) {
		return false, nil
	}
	fmt.Fprintln(stdout, text)
	if len(args) == 0 {
		return true, usageError{missing}
	}
	return true, nil
}
