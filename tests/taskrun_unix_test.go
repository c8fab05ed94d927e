//go:build unix

package tests

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkTaskRunStops starts go tool task run in root as docs/getting-started.md
// says, and stops it the way it says: SIGTERM to the process group (what
// Ctrl-C does with SIGINT). The server must stop cleanly, not be left
// running behind Task, which does not pass a lone signal on.
func checkTaskRunStops(t *testing.T, root string) {
	t.Helper()
	cmd := exec.Command("go", "tool", "task", "run")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "DEV_DB_ADDR=127.0.0.1:0", "SYNCGATE_DIR="+t.TempDir(), "LOG_FORMAT=json", "GUESTS=", "GUEST_SETTINGS=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			for _, e := range []string{`"msg":"guests loaded"`, `"msg":"stopped cleanly"`} {
				if strings.Contains(line, e) {
					events <- e
				}
			}
		}
		close(events)
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(3 * time.Minute)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("go tool task run ended before %s", want)
				}
				if e == want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s within 3 minutes", want)
			}
		}
	}
	wait(`"msg":"guests loaded"`)
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait(`"msg":"stopped cleanly"`)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("go tool task run did not exit after the server stopped")
	}
}
