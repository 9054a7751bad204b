// Package examples_test runs every example program the way its readers do:
// built with go build and started without the Azure variables, so that it
// uses the in-process emulator. Each must exit 0 and print no secret. The
// tests next to each example check what it prints.
package examples_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// programs are the example directories. client and chat are skipped while
// they do not exist.
var programs = []string{"quickstart", "broadcast", "send-to-user", "groups", "connections", "permissions", "tokens", "client", "invoke", "stream", "mqtt", "chat"}

// programArgs are the arguments of the programs that need some to end on
// their own: chat serves until interrupted, unless it runs its demo.
var programArgs = map[string][]string{"chat": {"-demo"}}

func TestPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every example program; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not in PATH")
	}

	var present []string
	for _, p := range programs {
		if _, err := os.Stat(filepath.Join(p, "main.go")); err == nil {
			present = append(present, p)
		}
	}
	bin := t.TempDir()
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	for _, p := range present {
		args = append(args, "./"+p)
	}
	if out, err := exec.Command(goTool, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The programs run against the emulator: no Azure variable reaches them.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_WEBPUBSUB_") {
			env = append(env, kv)
		}
	}

	for _, p := range programs {
		t.Run(p, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
				t.Skipf("examples/%s does not exist", p)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, p), programArgs[p]...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\noutput:\n%s", p, err, out)
			}
			if len(out) == 0 {
				t.Errorf("%s printed nothing", p)
			}
			if err := exampleenv.CheckNoSecrets(string(out)); err != nil {
				t.Errorf("%s: %v\noutput:\n%s", p, err, out)
			}
		})
	}
}
