package core

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestWildcardPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{"chat-*", []string{"chat-1", "chat-room", "chat-"}, []string{"chat.1", "xchat-1", "chat"}},
		{"clientA.*", []string{"clientA.alpha", "clientA.1", "clientA."}, []string{"clientA.alpha.room1", "clientB.alpha"}},
		{"clientA.**", []string{"clientA.alpha", "clientA.alpha.room1", "clientA."}, []string{"clientB.anything", "clientA"}},
		{"clientA.rooms.?1", []string{"clientA.rooms.a1", "clientA.rooms.11"}, []string{"clientA.rooms.1", "clientA.rooms.a.1"}},
		{`literal\*star`, []string{"literal*star"}, []string{"literalXstar"}},
		{`q\?\\`, []string{`q?\`}, []string{`qx\`}},
		{"ü?", []string{"üx", "üü"}, []string{"ü", "ü.", "üxx"}},
		{"***", []string{"", "a.b", "..."}, nil},
		{"a*b*c", []string{"abc", "aXbYc", "abbc"}, []string{"a.bc", "ab.c", "ac"}},
		{"**.x", []string{".x", "a.b.x"}, []string{"x", "a.y"}},
	}
	for _, tt := range tests {
		p, err := CompilePattern(tt.pattern)
		if err != nil {
			t.Errorf("CompilePattern(%q): %v", tt.pattern, err)
			continue
		}
		for _, g := range tt.match {
			if !p.Match(g) {
				t.Errorf("%q should match %q", tt.pattern, g)
			}
		}
		for _, g := range tt.nomatch {
			if p.Match(g) {
				t.Errorf("%q should not match %q", tt.pattern, g)
			}
		}
	}
	for _, bad := range []string{"", "******", "a*b*c*d*e*f*", `a\`, `a\b`, strings.Repeat("a", 1025)} {
		if _, err := CompilePattern(bad); err == nil {
			t.Errorf("CompilePattern(%q) succeeded; want an error", bad)
		}
	}
	// Matching stays fast on the worst inputs.
	p, _ := CompilePattern("*a*a*a*a*a")
	if p.Match(strings.Repeat("a", 1023) + "b") {
		t.Error("unexpected match")
	}
}

func TestPermSet(t *testing.T) {
	sets := permissionsFromRoles([]string{
		"webpubsub.joinLeaveGroup.a.b", "webpubsub.joinLeaveGroups.x-*", "webpubsub.joinLeaveGroup.", "webpubsub.joinLeaveGroups.\\",
		"webpubsub.sendToGroup", "webpubsub.SendToGroup.c", "other",
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	j, s := &sets[PermJoinLeaveGroup], &sets[PermSendToGroup]
	for g, want := range map[string]bool{"a.b": true, "x-1": true, "x.1": false, "c": false, "": false} {
		if got := j.allowed(g); got != want {
			t.Errorf("join allowed(%q) = %v; want %v", g, got, want)
		}
	}
	if !s.allowed("anything") || !s.check("") {
		t.Error("sendToGroup role should allow every group")
	}
	s.revoke("g")
	if s.allowed("g") || !s.allowed("h") || s.check("") || s.check("g") {
		t.Error("revoke(g) must deny g only")
	}
	s.grant("g")
	if !s.allowed("g") || !s.check("") {
		t.Error("grant(g) must lift the deny")
	}
	j.revoke("")
	if j.allowed("a.b") || j.allowed("x-1") {
		t.Error("revoke all must clear roles and patterns")
	}
	j.grant("")
	if !j.check("") || !j.allowed("z") {
		t.Error("grant all")
	}
	many := make([]string, 12)
	for i := range many {
		many[i] = "webpubsub.sendToGroups.p" + string(rune('a'+i)) + "*"
	}
	if got := len(permissionsFromRoles(many, slog.New(slog.NewTextHandler(io.Discard, nil)))[PermSendToGroup].patterns); got != MaxPatternRoles {
		t.Errorf("%d patterns kept; want %d", got, MaxPatternRoles)
	}
}
