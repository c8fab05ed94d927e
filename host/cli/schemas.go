package cli

import (
	"context"
	"io"
)

func schemasCmd(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	return usageError{"usage: syncgate schemas check|export|apply"}
}
