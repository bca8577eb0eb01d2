package verify

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Runner runs a program and returns what it wrote to standard output. A
// failing program's error carries its standard error, and the output it wrote
// before failing is still returned: talosctl prints the nodes it reached
// before reporting the ones it could not.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec is the Runner for real programs found on PATH.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// Killing the program on timeout is not enough when a child it spawned
	// (a pulumi plugin, say) still holds the output pipes open.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", name, err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", name, err)
	}
	return stdout.Bytes(), nil
}
