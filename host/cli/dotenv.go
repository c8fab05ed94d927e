package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/joho/godotenv"
)

// RunWithDotEnv is Run for the binary: it reads the variables of the file
// at path (.env in the working directory, the file `go tool task run`
// loads, read by the same parser) when it exists, the environment winning
// over it, so every command runs with the server's configuration. Commands
// that read the configuration say which variables came from the file.
func RunWithDotEnv(ctx context.Context, path string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	file, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return run(ctx, args, getenv, "", stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "syncgate: %s: %v\n", path, err)
		return 1
	}
	var used, overridden []string
	for k := range file {
		if getenv(k) != "" {
			overridden = append(overridden, k)
		} else {
			used = append(used, k)
		}
	}
	slices.Sort(used)
	slices.Sort(overridden)
	note := fmt.Sprintf("read %s: %s", path, strings.Join(used, ", "))
	if len(used) == 0 {
		note = fmt.Sprintf("read %s: nothing taken from it", path)
	}
	if len(overridden) > 0 {
		note += fmt.Sprintf(" (the environment wins for %s)", strings.Join(overridden, ", "))
	}
	merged := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}
	return run(ctx, args, merged, note, stdout, stderr)
}
