package webpubsub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// TestNoVerbRevealsASecret walks the exported types of every package that
// hold a key, a token, a URL with an access_token or a handler URL with a
// credential, filled with known secrets, and checks that no fmt verb
// prints one of them, in any encoding a verb can choose.
func TestNoVerbRevealsASecret(t *testing.T) {
	const key = "SeCrEtKeY0123456789abcdefghijklmnopqrstuvw"
	const code = "c0de-s3cret"
	e := emulator.NewTest(t, emulator.WithOptions(emulator.Options{AccessKey: key, SecondaryAccessKey: key + "2"}))
	cs := e.ConnectionString()
	sc, err := webpubsub.NewServiceClientFromConnectionString(cs, "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sc.GetClientAccessToken(context.Background(), &webpubsub.GetClientAccessTokenOptions{UserID: "u"})
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
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Stop(context.Background()) }()
	ehOpts := eventhandler.Options{AccessKeys: []string{key}, ConnectionString: cs}
	h, err := eventhandler.New("chat", &ehOpts)
	if err != nil {
		t.Fatal(err)
	}
	emuOpts := emulator.Options{AccessKey: key, SecondaryAccessKey: key + "2", Hubs: map[string]emulator.HubOptions{
		"chat": {EventHandlers: []emulator.EventHandler{{URLTemplate: "https://user:" + code + "@h/api?code=" + code}}},
	}}
	secrets := []string{key, tok.Token, code, tok.Token[len(tok.Token)-20:]}
	values := []struct {
		name string
		v    any
	}{
		{"*webpubsub.ServiceClient", sc},
		{"webpubsub.GetClientAccessTokenResponse", tok},
		{"*webpubsub.GetClientAccessTokenResponse", &tok},
		{"webpubsub.ConnectionString", parsed},
		{"*webpubsubclient.Client", client},
		{"webpubsubclient.StaticURL", webpubsubclient.StaticURL(tok.URL)},
		{"*eventhandler.Handler", h},
		{"eventhandler.Options", ehOpts},
		{"*emulator.Emulator", e},
		{"emulator.Options", emuOpts},
		{"emulator.EventHandler", emuOpts.Hubs["chat"].EventHandlers[0]},
		{"a struct holding them", struct {
			C *webpubsub.ServiceClient
			O emulator.Options
		}{sc, emuOpts}},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%20.4v", "%T"}
	for _, tt := range values {
		for _, verb := range verbs {
			got := fmt.Sprintf(verb, tt.v)
			for _, s := range secrets {
				for _, form := range []string{s, fmt.Sprintf("%x", s), fmt.Sprintf("%X", s), fmt.Sprintf("%q", s)} {
					if strings.Contains(got, form) {
						t.Errorf("Sprintf(%q, %s) = %q reveals a secret", verb, tt.name, got)
					}
				}
			}
		}
	}
}
