package webpubsub_test

import (
	"context"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// publicPackages are the packages whose exported types
// TestEveryTypeWithASecretIsVerified walks.
var publicPackages = []string{
	"github.com/gowebpubsub/webpubsub",
	"github.com/gowebpubsub/webpubsub/emulator",
	"github.com/gowebpubsub/webpubsub/eventhandler",
	"github.com/gowebpubsub/webpubsub/webpubsubclient",
}

// notSecret lists the exported types the rule of secretPath flags although
// they hold no secret, each with the reason.
var notSecret = map[string]string{
	"github.com/gowebpubsub/webpubsub/internal/connstr.Kind":          "ConnectionStringErrorKind: an enumeration of parse failures",
	"github.com/gowebpubsub/webpubsub/internal/connstr.Error":         "Key is the name of a connection-string key (AccessKey, Endpoint), never a value",
	"github.com/gowebpubsub/webpubsub.GetClientAccessTokenOptions":    "JWTHeaders are JOSE header fields such as kid, sent in the clear in every token",
	"github.com/gowebpubsub/webpubsub.ListConnectionsInGroupOptions":  "ContinuationToken is a paging cursor, not a credential",
	"github.com/gowebpubsub/webpubsub.ListConnectionsInGroupResponse": "ContinuationToken is a paging cursor, not a credential",
}

// The secrets TestNoVerbRevealsASecret puts in the values it prints.
const (
	secretKey         = "SeCrEtKeY0123456789abcdefghijklmnopqrstuvw"
	secretCode        = "c0de-s3cret"
	secretPassword    = "mqtt-pa55word"
	secretReconnToken = "rEcOnNeCtIoN-t0ken-s3cret"
	secretCookie      = "session-c00kie-s3cret"
)

// verifiedValue is a value, holding real secrets, of a type that holds
// one; its dynamic type (or the type it points to) is the type verified.
type verifiedValue struct {
	name string
	v    any
}

// verifiedValues builds one value of each type that holds a secret, with
// secrets in place, and returns them with the secrets.
func verifiedValues(t *testing.T) ([]verifiedValue, []string) {
	e := emulator.NewTest(t, emulator.WithOptions(emulator.Options{AccessKey: secretKey, SecondaryAccessKey: secretKey + "2"}))
	cs := e.ConnectionString()
	sc, err := webpubsub.NewServiceClientFromConnectionString(cs, "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sc.GetClientAccessToken(context.Background(), &webpubsub.GetClientAccessTokenOptions{
		UserID: "u", Roles: []string{"webpubsub.sendToGroup", "webpubsub.joinLeaveGroup"}})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := webpubsub.ParseConnectionString(cs)
	if err != nil {
		t.Fatal(err)
	}
	client, err := webpubsubclient.New(webpubsubclient.StaticURL(tok.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	stream, err := client.OpenGroupStream(ctx, "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stream.Close(context.Background()) })
	reliable := clientWithReconnectionToken(t, tok.Token)
	ehOpts := eventhandler.Options{AccessKeys: []string{secretKey}, ConnectionString: cs}
	h, err := eventhandler.New("chat", &ehOpts)
	if err != nil {
		t.Fatal(err)
	}
	emuOpts := emulator.Options{AccessKey: secretKey, SecondaryAccessKey: secretKey + "2", Hubs: map[string]emulator.HubOptions{
		"chat": {EventHandlers: []emulator.EventHandler{{URLTemplate: "https://user:" + secretCode + "@h/api?code=" + secretCode}}},
	}}
	mqttProps := &eventhandler.MQTTConnectProperties{ProtocolVersion: 5, Username: "u", Password: []byte(secretPassword)}
	connect := eventhandler.ConnectRequest{
		ConnectionContext: eventhandler.ConnectionContext{Hub: "chat", ConnectionID: "c"},
		Query:             url.Values{"access_token": {tok.Token}, "awps_reconnection_token": {secretReconnToken}, "code": {secretCode}, "x": {"1"}},
		Headers: http.Header{"Authorization": {"Bearer " + tok.Token}, "Cookie": {secretCookie},
			"X-Api-Key": {secretKey}, "User-Agent": {"test"}},
		MQTTProperties: mqttProps,
	}
	values := []verifiedValue{
		{"*webpubsub.ServiceClient", sc},
		{"webpubsub.GetClientAccessTokenResponse", tok},
		{"*webpubsub.GetClientAccessTokenResponse", &tok},
		{"webpubsub.ConnectionString", parsed},
		{"*webpubsubclient.Client", client},
		{"*webpubsubclient.Client (reliable, with a reconnection token)", reliable},
		{"*webpubsubclient.GroupStreamWriter", stream},
		{"webpubsubclient.StaticURL", webpubsubclient.StaticURL(tok.URL)},
		{"*eventhandler.Handler", h},
		{"eventhandler.Options", ehOpts},
		{"eventhandler.ConnectRequest", connect},
		{"*eventhandler.ConnectRequest", &connect},
		{"eventhandler.MQTTConnectProperties", *mqttProps},
		{"*emulator.Emulator", e},
		{"emulator.Options", emuOpts},
		{"emulator.HubOptions", emuOpts.Hubs["chat"]},
		{"emulator.EventHandler", emuOpts.Hubs["chat"].EventHandlers[0]},
	}
	secrets := []string{secretKey, tok.Token, secretCode, tok.Token[len(tok.Token)-20:], secretPassword, secretReconnToken, secretCookie}
	return values, secrets
}

// clientWithReconnectionToken returns a started client of the reliable
// protocol connected to a server that gave it secretReconnToken, with
// access_token in its URL.
func clientWithReconnectionToken(t *testing.T, accessToken string) *webpubsubclient.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{string(webpubsubclient.ProtocolReliableJSON)}})
		if err != nil {
			return
		}
		defer func() { _ = ws.CloseNow() }()
		connected := `{"type":"system","event":"connected","userId":"u","connectionId":"c1","reconnectionToken":"` + secretReconnToken + `"}`
		if err := ws.Write(r.Context(), websocket.MessageText, []byte(connected)); err != nil {
			return
		}
		for {
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/client/hubs/chat?access_token=" + url.QueryEscape(accessToken)
	c, err := webpubsubclient.New(webpubsubclient.StaticURL(u), &webpubsubclient.Options{Protocol: webpubsubclient.ProtocolReliableJSON})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

// TestNoVerbRevealsASecret prints a value of every type that holds a key,
// a token, a URL with an access_token, a reconnection token, a password or
// a handler URL with a credential, filled with known secrets, alone and
// inside a struct field, a slice and a map, with every fmt verb and with
// Sprint and Sprintln, and checks that none prints a secret in any encoding
// a verb can choose.
func TestNoVerbRevealsASecret(t *testing.T) {
	values, secrets := verifiedValues(t)
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, fmt.Sprintf("%x", s), fmt.Sprintf("%X", s), fmt.Sprintf("%q", s)[1:len(s)+1],
			strings.Trim(fmt.Sprint([]byte(s)), "[]"), fmt.Sprintf("%#v", []byte(s))[len("[]byte{"):])
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%20.4v", "%T"}
	for _, tt := range values {
		rv := reflect.ValueOf(tt.v)
		field := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "V", Type: rv.Type()}})).Elem()
		field.Field(0).Set(rv)
		wrapped := []struct {
			how string
			v   any
		}{
			{"", tt.v},
			{" in a struct field", field.Interface()},
			{" in a slice", []any{tt.v}},
			{" in a map", map[string]any{"k": tt.v}},
		}
		for _, w := range wrapped {
			var printed []string
			for _, verb := range verbs {
				printed = append(printed, verb+" "+fmt.Sprintf(verb, w.v))
			}
			printed = append(printed, "Sprint "+fmt.Sprint(w.v), "Sprintln "+fmt.Sprintln(w.v))
			for _, got := range printed {
				for _, form := range forms {
					if strings.Contains(got, form) {
						i := strings.Index(got, form)
						t.Errorf("%s%s: %q reveals a secret: …%s…", tt.name, w.how, got[:min(len(got), 40)], got[max(0, i-60):min(len(got), i+len(form)+20)])
					}
				}
			}
		}
	}
}

// TestEveryTypeWithASecretIsVerified type-checks the non-test files of
// every public package from source and walks each exported type. A type
// holds a secret when one of its fields, followed through embedded
// fields, unexported fields, pointers, slices, arrays, map keys and values
// and the module's own named types, is an http.Header, a url.Values or a
// url.URL, or is text (a string or []byte type) whose name contains key,
// token, password, secret, credential, connectionstring, connstr, query,
// header, url or signature (case-insensitive); a named non-struct type is
// judged by its own name. Every such type must be verified by
// TestNoVerbRevealsASecret or listed in notSecret with a reason.
func TestEveryTypeWithASecretIsVerified(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the module from source")
	}
	values, _ := verifiedValues(t)
	verified := map[string]bool{}
	for _, v := range values {
		rt := reflect.TypeOf(v.v)
		if rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		verified[rt.PkgPath()+"."+rt.Name()] = true
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "source", nil)
	flagged := map[string]bool{}
	for _, path := range publicPackages {
		pkg, err := imp.Import(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range pkg.Scope().Names() {
			tn, ok := pkg.Scope().Lookup(name).(*types.TypeName)
			if !ok || !tn.Exported() {
				continue
			}
			typ := types.Unalias(tn.Type())
			named, ok := typ.(*types.Named)
			if !ok {
				continue
			}
			id := named.Obj().Pkg().Path() + "." + named.Obj().Name()
			why := secretPath(named, tn.Name(), map[*types.Named]bool{})
			if why == "" {
				continue
			}
			flagged[id] = true
			if !verified[id] && notSecret[id] == "" {
				t.Errorf("%s.%s holds a secret (%s) but TestNoVerbRevealsASecret does not print one", pkg.Name(), name, why)
			}
		}
	}
	for id := range notSecret {
		if !flagged[id] {
			t.Errorf("notSecret lists %s, which the walk no longer flags", id)
		}
	}
	for id := range verified {
		if !flagged[id] {
			t.Errorf("TestNoVerbRevealsASecret verifies %s, which the walk does not flag: is the rule missing a field?", id)
		}
	}
}

const modulePath = "github.com/gowebpubsub/webpubsub"

var secretWords = []string{"key", "token", "password", "secret", "credential", "connectionstring", "connstr", "query", "header", "url", "signature"}

func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// secretPath returns the path to the first field of t, a value named
// name, that holds a secret under the rule of
// TestEveryTypeWithASecretIsVerified, or "".
func secretPath(t types.Type, name string, seen map[*types.Named]bool) string {
	if isText(t) {
		if secretName(name) {
			return name
		}
		return ""
	}
	switch t := t.(type) {
	case *types.Alias:
		return secretPath(types.Unalias(t), name, seen)
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() == nil {
			return ""
		}
		switch obj.Pkg().Path() + "." + obj.Name() {
		case "net/http.Header", "net/url.Values", "net/url.URL":
			return name + " (" + obj.Pkg().Name() + "." + obj.Name() + ")"
		}
		if !strings.HasPrefix(obj.Pkg().Path(), modulePath) || seen[t] {
			return ""
		}
		seen[t] = true
		defer delete(seen, t)
		return secretPath(t.Underlying(), name, seen)
	case *types.Pointer:
		return secretPath(t.Elem(), name, seen)
	case *types.Slice:
		return secretPath(t.Elem(), name, seen)
	case *types.Array:
		return secretPath(t.Elem(), name, seen)
	case *types.Map:
		if p := secretPath(t.Key(), name, seen); p != "" {
			return p
		}
		return secretPath(t.Elem(), name, seen)
	case *types.Struct:
		for i := range t.NumFields() {
			f := t.Field(i)
			if p := secretPath(f.Type(), f.Name(), seen); p != "" {
				return name + "." + p
			}
		}
	}
	return ""
}

// isText reports whether t is a string or []byte type.
func isText(t types.Type) bool {
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return u.Info()&types.IsString != 0
	case *types.Slice:
		b, ok := u.Elem().Underlying().(*types.Basic)
		return ok && b.Kind() == types.Byte
	}
	return false
}
