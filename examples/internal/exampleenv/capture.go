package exampleenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/gowebpubsub/webpubsub/emulator"
)

// CaptureStdout runs f with os.Stdout redirected to a temporary file and
// returns what f printed along with f's error. It is for the examples'
// tests, which call an example's run function and check its output; it
// must not be used by tests that run in parallel.
func CaptureStdout(f func() error) (string, error) {
	tmp, err := os.CreateTemp("", "example-stdout-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	runErr := func() error {
		saved := os.Stdout
		os.Stdout = tmp
		defer func() { os.Stdout = saved }()
		return f()
	}()

	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	out, err := io.ReadAll(tmp)
	if err != nil {
		return "", err
	}
	return string(out), runErr
}

// CheckOutput compares out with want line by line. A "*" in a line of want
// matches any run of characters (a port, an id), and a line "..." matches
// any number of lines.
func CheckOutput(out, want string) error {
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	exp := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	if !matchLines(got, exp) {
		return fmt.Errorf("unexpected output:\n%s\nwant:\n%s", out, want)
	}
	return nil
}

func matchLines(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(got[i:], want[1:]) {
				return true
			}
		}
		return false
	}
	if len(got) == 0 {
		return false
	}
	return matchLine(got[0], want[0]) && matchLines(got[1:], want[1:])
}

// matchLine reports whether line matches pattern, in which "*" stands for
// any run of characters.
func matchLine(line, pattern string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(line, parts[0]) {
		return false
	}
	line = line[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(line, p)
		}
		j := strings.Index(line, p)
		if j < 0 {
			return false
		}
		line = line[j+len(p):]
	}
	return line == ""
}

// jwtPattern matches a JSON Web Token: base64url JSON header, claims and
// signature.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// CheckNoSecrets reports a secret in out: the emulator's access key, a JWT,
// or an access_token query value other than the "..." that stands for one.
func CheckNoSecrets(out string) error {
	if strings.Contains(out, emulator.DefaultAccessKey) {
		return errors.New("the output contains the access key")
	}
	if jwtPattern.MatchString(out) {
		return errors.New("the output contains a token")
	}
	for rest := out; ; {
		_, after, ok := strings.Cut(rest, "access_token=")
		if !ok {
			return nil
		}
		if !strings.HasPrefix(after, "...") {
			return errors.New("the output contains an access_token value")
		}
		rest = after
	}
}

// TB is the part of testing.TB that RunAndCheck uses.
type TB interface {
	Helper()
	Setenv(key, value string)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// RunAndCheck runs an example's scenario as its program does (Run with
// defaultHub) against the in-process emulator (the AZURE_WEBPUBSUB_*
// variables cleared for the test), and checks that its output matches want
// (see CheckOutput) and holds no secret.
func RunAndCheck(t TB, defaultHub string, scenario Scenario, want string) {
	t.Helper()
	for _, k := range []string{"AZURE_WEBPUBSUB_CONNECTION_STRING", "AZURE_WEBPUBSUB_HUB", "AZURE_WEBPUBSUB_ENDPOINT"} {
		t.Setenv(k, "")
	}
	out, err := CaptureStdout(func() error { return Run(defaultHub, scenario) })
	if err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out)
	}
	if err := CheckNoSecrets(out); err != nil {
		t.Errorf("%v", err)
	}
	if err := CheckOutput(out, want); err != nil {
		t.Errorf("%v", err)
	}
}
