package emulator

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestCoreImportsNoAdapter checks the emulator's layout: the core
// (internal/core) knows no wire format and no adapter. Its imports, and
// theirs within this module, are the standard library without HTTP, and
// the module's name rules and OData filter; never this package, the
// client protocol, WebSocket or JWT code.
func TestCoreImportsNoAdapter(t *testing.T) {
	const module = "github.com/gowebpubsub/webpubsub/"
	allowed := map[string]bool{
		module + "internal/names": true,
		module + "internal/odata": true,
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(dir, path string)
	walk = func(dir, path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		pkg, err := build.Default.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			switch {
			case strings.HasPrefix(imp, module):
				if !allowed[imp] {
					t.Errorf("%s imports %s, which the core must not depend on", path, imp)
					continue
				}
				walk(filepath.Join(root, strings.TrimPrefix(imp, module)), imp)
			case strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
				t.Errorf("%s imports %s; the core uses only the standard library", path, imp)
			case imp == "net/http" || strings.HasPrefix(imp, "net/http/"):
				t.Errorf("%s imports %s; HTTP belongs to the adapters", path, imp)
			}
		}
	}
	walk(filepath.Join(root, "emulator", "internal", "core"), module+"emulator/internal/core")
	if len(seen) < 2 {
		t.Fatalf("walked %d packages; the core was not found", len(seen))
	}
}
