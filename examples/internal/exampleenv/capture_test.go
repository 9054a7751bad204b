package exampleenv

import (
	"fmt"
	"testing"

	"github.com/gowebpubsub/webpubsub/emulator"
)

func TestCheckOutput(t *testing.T) {
	out := "Using http://localhost:4242 hub chat\nalice received:\n  text \"hi\"\nDone.\n"
	for _, tc := range []struct {
		want string
		ok   bool
	}{
		{out, true},
		{"Using http://localhost:* hub chat\nalice received:\n  text \"hi\"\nDone.\n", true},
		{"Using * hub *\n...\nDone.\n", true},
		{"...\n", true},
		{"Using http://localhost:* hub chat\nalice received:\nDone.\n", false},     // a line too few
		{"Using http://localhost:* hub chat\n...\n  text \"bye\"\nDone.\n", false}, // a line that is not there
		{"Using http://localhost:* hub other\n...\n", false},
		{"Using http://localhost:* hub chat\nalice received:\n  text \"hi\"\n", false}, // a line too many in out
	} {
		if err := CheckOutput(out, tc.want); (err == nil) != tc.ok {
			t.Errorf("CheckOutput(%q): %v, want ok=%v", tc.want, err, tc.ok)
		}
	}
}

func TestCheckNoSecrets(t *testing.T) {
	for _, tc := range []struct {
		out string
		ok  bool
	}{
		{"URL: ws://localhost:1/client/hubs/chat?access_token=...\n", true},
		{"connection string: Endpoint=http://localhost;AccessKey=" + emulator.DefaultAccessKey + ";\n", false},
		{"URL: ws://h/client/hubs/chat?access_token=abc\n", false},
		{"ok ?access_token=... then ?access_token=x\n", false},
		{"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl\n", false},
	} {
		if err := CheckNoSecrets(tc.out); (err == nil) != tc.ok {
			t.Errorf("CheckNoSecrets(%q): %v, want ok=%v", tc.out, err, tc.ok)
		}
	}
}

func TestCaptureStdout(t *testing.T) {
	out, err := CaptureStdout(func() error {
		fmt.Println("hello")
		return fmt.Errorf("failed")
	})
	if out != "hello\n" || err == nil || err.Error() != "failed" {
		t.Fatalf("CaptureStdout = %q, %v", out, err)
	}
}
