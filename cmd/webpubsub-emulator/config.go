package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/internal/names"
)

// settings are the program's settings, layered: built-in defaults
// (newSettings), then the configuration file, then AWPS_EMULATOR_*
// environment variables, then command-line flags, each layer applied in
// turn over the previous ones.
type settings struct {
	// o holds the emulator options the layers set, Hubs aside.
	o emulator.Options
	// logLevel is the log level's name; "" means the default, info.
	logLevel string
	// hubs holds the per-hub settings by hub name ("*" for the default).
	hubs map[string]emulator.HubOptions
}

// newSettings returns the built-in defaults: localhost, port 8080, the
// dashboard on.
func newSettings() settings {
	return settings{o: emulator.Options{Host: emulator.DefaultHost, Port: 8080, Dashboard: true}}
}

// options returns the emulator options the settings describe.
func (s *settings) options() emulator.Options {
	o := s.o
	o.Hubs = s.hubs
	return o
}

// setListen applies a "host:port" listen address.
func (s *settings) setListen(v, source string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s: listen must be host:port", source)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s: listen has an invalid port", source)
	}
	if host != "" {
		s.o.Host = host
	}
	s.o.Port = n
	return nil
}

// setEventHandlers replaces the event handlers of hub, keeping its other
// settings.
func (s *settings) setEventHandlers(hub string, handlers []emulator.EventHandler) {
	if s.hubs == nil {
		s.hubs = map[string]emulator.HubOptions{}
	}
	key := s.hubKey(hub)
	ho := s.hubs[key]
	ho.EventHandlers = handlers
	s.hubs[key] = ho
}

// hubKey finds the existing key for hub, case-insensitively, or returns
// hub itself.
func (s *settings) hubKey(hub string) string {
	for k := range s.hubs {
		if strings.EqualFold(k, hub) {
			return k
		}
	}
	return hub
}

// ---- the configuration file ----

// object is a JSON object whose keys are matched case-insensitively.
type object map[string]json.RawMessage

func parseObject(b json.RawMessage, what string) (object, error) {
	o, _, err := parseNamedObject(b, what)
	return o, err
}

// parseNamedObject is parseObject that also returns each key as written,
// by its lower-case form.
func parseNamedObject(b json.RawMessage, what string) (object, map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return nil, nil, fmt.Errorf("%s must be a JSON object", what)
	}
	o := make(object, len(raw))
	written := make(map[string]string, len(raw))
	for k, v := range raw {
		lk := strings.ToLower(k)
		if _, dup := o[lk]; dup {
			return nil, nil, fmt.Errorf("%s has the key %q twice (keys are case-insensitive)", what, lk)
		}
		o[lk] = v
		written[lk] = k
	}
	return o, written, nil
}

// parseKnownObject is parseObject that also fails, as checkKeys does, for
// a key that is not one of known.
func parseKnownObject(b json.RawMessage, what string, known []string) (object, error) {
	o, written, err := parseNamedObject(b, what)
	if err == nil {
		err = checkKeys(o, written, what, known)
	}
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Known keys of the configuration file, as documented, by level.
var (
	topKeys = []string{"listen", "publicEndpoint", "accessKey", "secondaryAccessKey", "relaxedAudience",
		"allowUnvalidatedEntraTokens", "trace", "dashboard", "reliableRetentionSeconds", "eventHandlerTimeoutSeconds",
		"readHeaderTimeoutSeconds", "httpIdleTimeoutSeconds", "clockSkewSeconds", "maxRestBodyBytes", "maxHeaderBytes", "hubs",
		"maxLogFieldBytes", "maxGroupsPerConnection", "maxBufferedBytes"}
	hubKeys      = []string{"anonymousConnectPolicy", "eventHandlers"}
	handlerKeys  = []string{"urlTemplate", "userEventPattern", "eventPattern", "systemEvents", "validate", "auth", "groupPresenceEvents"}
	presenceKeys = []string{"eventNames", "groupFilters"}
	authKeys     = []string{"type", "managedIdentity"}
)

// checkKeys fails for the first key of o (in sorted order) that is not
// one of known, naming its path and, when one is close, the known key
// meant.
func checkKeys(o object, written map[string]string, what string, known []string) error {
	for _, k := range sortedKeys(o) {
		if isKnown(k, known) {
			continue
		}
		msg := fmt.Sprintf("%s has an unknown key %q", what, written[k])
		if near := nearest(k, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		return errors.New(msg)
	}
	return nil
}

// nearest returns the known key closest to k (case-insensitive edit
// distance of at most a third of its length, and 3), or "".
func nearest(k string, known []string) string {
	best, bestD := "", 0
	for _, n := range known {
		d := editDistance(strings.ToLower(k), strings.ToLower(n))
		if (best == "" || d < bestD) && d <= min(3, max(1, len(n)/3)) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// syntaxError describes a JSON syntax error of the file b with its line
// and column, or returns nil when b is valid JSON.
func syntaxError(b []byte) error {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return nil
	}
	// Offset counts the bytes read, the offending one included; at the
	// end of the input the position is just after the last byte.
	at := int(se.Offset) - 1
	if at < 0 || int(se.Offset) >= len(b) {
		at = min(int(se.Offset), len(b))
	}
	line, col := 1, 1
	for _, c := range b[:at] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, se.Error())
}

// setFrom stores in *dst a new value decoded from key, when the key is
// present and not null.
func setFrom[T any](o object, key, what string, dst *T) error {
	var v T
	ok, err := o.get(key, &v, what)
	if ok {
		*dst = v
	}
	return err
}

// setPositive is setFrom for a count of the file's top level, which must
// be positive; key is spelled as the messages name it.
func setPositive[T int | int64](o object, key string, dst *T) error {
	var v T
	if ok, err := o.get(strings.ToLower(key), &v, "config"); !ok || err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("config.%s must be positive", key)
	}
	*dst = v
	return nil
}

// setBound is setPositive for a limit that -1 turns off: the value must
// be positive or -1.
func setBound[T int | int64](o object, key string, dst *T) error {
	var v T
	if ok, err := o.get(strings.ToLower(key), &v, "config"); !ok || err != nil {
		return err
	}
	if v <= 0 && v != -1 {
		return fmt.Errorf("config.%s must be positive, or -1 for no bound", key)
	}
	*dst = v
	return nil
}

// decode is get without the presence report.
func decode(o object, key, what string, dst any) error {
	_, err := o.get(key, dst, what)
	return err
}

// get decodes the value of key into dst when present and not null.
func (o object) get(key string, dst any, what string) (bool, error) {
	v, ok := o[key]
	if !ok || string(bytes.TrimSpace(v)) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return false, fmt.Errorf("%s.%s has the wrong type", what, key)
	}
	return true, nil
}

// loadConfigFile applies the file at path and returns its content.
func (s *settings) loadConfigFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if err := s.applyConfig(b); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return b, nil
}

// applyConfig applies a configuration file's content: this project's
// schema, or the official emulator's appsettings.json shape (a WebPubSub
// object with AccessKey and Hubs). Unknown keys at any depth are errors,
// but for the top level of an appsettings.json: its sections other than
// WebPubSub (Logging, AllowedHosts, ...) are ignored, and a key of this
// schema next to WebPubSub is an error that says to move it inside.
func (s *settings) applyConfig(b []byte) error {
	if err := syntaxError(b); err != nil {
		return err
	}
	top, written, err := parseNamedObject(b, "the file")
	if err != nil {
		return err
	}
	if inner, ok := top["webpubsub"]; ok {
		// The official emulator's appsettings.json: its other sections
		// (Logging, AllowedHosts, ...) are not ours, its WebPubSub section
		// is checked. A key of ours beside it would otherwise be applied
		// or ignored depending on where the reader looks.
		if err := checkBesideWebPubSub(top, written); err != nil {
			return err
		}
		wps, err := parseKnownObject(inner, "WebPubSub", topKeys)
		if err != nil {
			return err
		}
		for k, v := range wps {
			top[k] = v
		}
	} else {
		delete(top, "logging") // an ASP.NET-style section some files carry
		delete(top, "$schema")
		if err := checkKeys(top, written, "the file", topKeys); err != nil {
			return err
		}
	}
	var str string
	if ok, err := top.get("listen", &str, "config"); err != nil {
		return err
	} else if ok {
		if err := s.setListen(str, "config"); err != nil {
			return err
		}
	}
	if err := cmp.Or(
		setFrom(top, "publicendpoint", "config", &s.o.PublicEndpoint),
		setFrom(top, "accesskey", "config", &s.o.AccessKey),
		setFrom(top, "secondaryaccesskey", "config", &s.o.SecondaryAccessKey),
		setFrom(top, "relaxedaudience", "config", &s.o.RelaxedAudience),
		setFrom(top, "allowunvalidatedentratokens", "config", &s.o.AllowUnvalidatedEntraTokens),
		setFrom(top, "trace", "config", &s.o.Trace),
		setFrom(top, "dashboard", "config", &s.o.Dashboard),
	); err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		dst *time.Duration
	}{{"reliableretentionseconds", &s.o.ReliableRetention}, {"eventhandlertimeoutseconds", &s.o.EventHandlerTimeout},
		{"readheadertimeoutseconds", &s.o.ReadHeaderTimeout}, {"httpidletimeoutseconds", &s.o.HTTPIdleTimeout},
		{"clockskewseconds", &s.o.ClockSkew}} {
		var v float64
		if ok, err := top.get(f.key, &v, "config"); err != nil {
			return err
		} else if ok {
			if v <= 0 {
				return fmt.Errorf("config.%s must be positive", f.key)
			}
			*f.dst = time.Duration(v * float64(time.Second))
		}
	}
	if err := cmp.Or(
		setPositive(top, "maxRestBodyBytes", &s.o.MaxRESTBodyBytes),
		setPositive(top, "maxHeaderBytes", &s.o.MaxHeaderBytes),
		setPositive(top, "maxLogFieldBytes", &s.o.MaxLogFieldBytes),
		setBound(top, "maxGroupsPerConnection", &s.o.MaxGroupsPerConnection),
		setBound(top, "maxBufferedBytes", &s.o.MaxBufferedBytes),
	); err != nil {
		return err
	}
	if raw, ok := top["hubs"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		hubs, err := parseObject(raw, "hubs")
		if err != nil {
			return err
		}
		for name, v := range hubs {
			if name == "_default" {
				name = "*"
			}
			if name != "*" && names.Hub(name) != "" {
				return fmt.Errorf("hubs has an invalid hub name %q", name)
			}
			ho, err := parseHub(v, "hubs."+name)
			if err != nil {
				return err
			}
			if s.hubs == nil {
				s.hubs = map[string]emulator.HubOptions{}
			}
			if _, dup := s.hubs[name]; dup {
				return fmt.Errorf("hubs has two entries for %q", name)
			}
			s.hubs[name] = ho
		}
	}
	return nil
}

func parseHub(b json.RawMessage, what string) (emulator.HubOptions, error) {
	var ho emulator.HubOptions
	o, err := parseKnownObject(b, what, hubKeys)
	if err != nil {
		return ho, err
	}
	var policy string
	if ok, err := o.get("anonymousconnectpolicy", &policy, what); err != nil {
		return ho, err
	} else if ok {
		switch strings.ToLower(policy) {
		case "allow":
			ho.AllowAnonymous = true
		case "deny":
		default:
			return ho, fmt.Errorf("%s.anonymousConnectPolicy must be allow or deny", what)
		}
	}
	var handlers []json.RawMessage
	if _, err := o.get("eventhandlers", &handlers, what); err != nil {
		return ho, err
	}
	for i, h := range handlers {
		eh, err := parseHandler(h, fmt.Sprintf("%s.eventHandlers[%d]", what, i))
		if err != nil {
			return ho, err
		}
		ho.EventHandlers = append(ho.EventHandlers, eh)
	}
	return ho, nil
}

func parseHandler(b json.RawMessage, what string) (emulator.EventHandler, error) {
	var eh emulator.EventHandler
	o, err := parseKnownObject(b, what, handlerKeys)
	if err != nil {
		return eh, err
	}
	if ok, err := o.get("urltemplate", &eh.URLTemplate, what); err != nil {
		return eh, err
	} else if !ok {
		return eh, fmt.Errorf("%s.urlTemplate is required", what)
	}
	validate := true
	if err := cmp.Or(
		decode(o, "eventpattern", what, &eh.UserEventPattern),
		decode(o, "usereventpattern", what, &eh.UserEventPattern), // wins over eventPattern
		decode(o, "systemevents", what, &eh.SystemEvents),
		decode(o, "validate", what, &validate),
	); err != nil {
		return eh, err
	}
	eh.SkipValidation = !validate
	if err := checkAuth(o["auth"], what); err != nil {
		return eh, err
	}
	if raw, ok := o["grouppresenceevents"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		gp, err := parseKnownObject(raw, what+".groupPresenceEvents", presenceKeys)
		if err != nil {
			return eh, err
		}
		eh.GroupPresenceEvents = &emulator.GroupPresenceEvents{}
		if err := cmp.Or(
			decode(gp, "eventnames", what+".groupPresenceEvents", &eh.GroupPresenceEvents.EventNames),
			decode(gp, "groupfilters", what+".groupPresenceEvents", &eh.GroupPresenceEvents.GroupFilters),
		); err != nil {
			return eh, err
		}
	}
	return eh, nil
}

// sortedKeys returns the keys of o in sorted order.
func sortedKeys(o object) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isKnown reports whether key is one of known, ignoring case.
func isKnown(key string, known []string) bool {
	return slices.ContainsFunc(known, func(n string) bool { return strings.EqualFold(n, key) })
}

// checkBesideWebPubSub fails for the first key (in sorted order) of an
// appsettings.json's top level top that is a key of this schema, which
// belongs inside its WebPubSub section.
func checkBesideWebPubSub(top object, written map[string]string) error {
	for _, k := range sortedKeys(top) {
		if isKnown(k, topKeys) {
			return fmt.Errorf("the file has %q next to its WebPubSub section, where it is not read: move it inside WebPubSub "+
				"(the other top-level sections of an appsettings.json are ignored)", written[k])
		}
	}
	return nil
}

// checkAuth accepts an absent or null auth, "None", or {"type":"None"}:
// outbound authentication to handlers is not supported. An auth object
// with a key other than type (or managedIdentity, which the official
// emulator's files carry) is an error naming the key.
func checkAuth(raw json.RawMessage, what string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && strings.EqualFold(s, "none") {
		return nil
	}
	if raw[0] == '{' {
		o, err := parseKnownObject(raw, what+".auth", authKeys)
		if err != nil {
			return err
		}
		var typ string
		if ok, _ := o.get("type", &typ, what+".auth"); ok && strings.EqualFold(typ, "none") {
			return nil
		}
	}
	return fmt.Errorf("%s.auth: authentication to event handlers is not supported; remove it or use None (a ?code= query in the URL works)", what)
}

// ---- environment variables ----

// envPrefix starts every environment variable the program reads.
const envPrefix = "AWPS_EMULATOR_"

// applyEnv applies AWPS_EMULATOR_<SETTING> variables: the configuration
// file's keys upper-cased (LISTEN, PUBLICENDPOINT, ACCESSKEY,
// SECONDARYACCESSKEY, RELAXEDAUDIENCE, ALLOWUNVALIDATEDENTRATOKENS,
// RELIABLERETENTIONSECONDS, EVENTHANDLERTIMEOUTSECONDS, CLOCKSKEWSECONDS,
// MAXRESTBODYBYTES),
// plus HOST, PORT and LOGLEVEL. Errors name the variable, never its value.
func (s *settings) applyEnv(getenv func(string) string) error {
	get := func(name string) (string, bool) {
		v := getenv(envPrefix + name)
		return v, v != ""
	}
	if v, ok := get("LISTEN"); ok {
		if err := s.setListen(v, envPrefix+"LISTEN"); err != nil {
			return err
		}
	}
	for name, dst := range map[string]*string{
		"HOST": &s.o.Host, "PUBLICENDPOINT": &s.o.PublicEndpoint, "ACCESSKEY": &s.o.AccessKey,
		"SECONDARYACCESSKEY": &s.o.SecondaryAccessKey, "LOGLEVEL": &s.logLevel,
	} {
		if v, ok := get(name); ok {
			*dst = v
		}
	}
	if v, ok := get("PORT"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%sPORT must be an integer", envPrefix)
		}
		s.o.Port = n
	}
	for name, dst := range map[string]*bool{"RELAXEDAUDIENCE": &s.o.RelaxedAudience, "ALLOWUNVALIDATEDENTRATOKENS": &s.o.AllowUnvalidatedEntraTokens, "TRACE": &s.o.Trace, "DASHBOARD": &s.o.Dashboard} {
		if v, ok := get(name); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s%s must be true or false", envPrefix, name)
			}
			*dst = b
		}
	}
	for name, dst := range map[string]*time.Duration{"RELIABLERETENTIONSECONDS": &s.o.ReliableRetention, "EVENTHANDLERTIMEOUTSECONDS": &s.o.EventHandlerTimeout,
		"READHEADERTIMEOUTSECONDS": &s.o.ReadHeaderTimeout, "HTTPIDLETIMEOUTSECONDS": &s.o.HTTPIdleTimeout,
		"CLOCKSKEWSECONDS": &s.o.ClockSkew} {
		if v, ok := get(name); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return fmt.Errorf("%s%s must be a positive number of seconds", envPrefix, name)
			}
			*dst = time.Duration(f * float64(time.Second))
		}
	}
	if v, ok := get("MAXRESTBODYBYTES"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%sMAXRESTBODYBYTES must be a positive integer", envPrefix)
		}
		s.o.MaxRESTBodyBytes = n
	}
	if v, ok := get("MAXHEADERBYTES"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%sMAXHEADERBYTES must be a positive integer", envPrefix)
		}
		s.o.MaxHeaderBytes = n
	}
	return s.applyLimitsEnv(get)
}

// applyLimitsEnv reads AWPS_EMULATOR_MAXLOGFIELDBYTES (positive),
// AWPS_EMULATOR_MAXGROUPSPERCONNECTION and AWPS_EMULATOR_MAXBUFFEREDBYTES
// (positive, or -1 for no bound).
func (s *settings) applyLimitsEnv(get func(string) (string, bool)) error {
	for _, l := range []struct {
		name  string
		bits  int  // of the option's integer type
		off   bool // -1 means no bound
		apply func(int64)
	}{
		{"MAXLOGFIELDBYTES", strconv.IntSize, false, func(n int64) { s.o.MaxLogFieldBytes = int(n) }},
		{"MAXGROUPSPERCONNECTION", strconv.IntSize, true, func(n int64) { s.o.MaxGroupsPerConnection = int(n) }},
		{"MAXBUFFEREDBYTES", 64, true, func(n int64) { s.o.MaxBufferedBytes = n }},
	} {
		v, ok := get(l.name)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, l.bits)
		switch {
		case err == nil && (n > 0 || l.off && n == -1):
			l.apply(n)
		case l.off:
			return fmt.Errorf("%s%s must be a positive integer, or -1 for no bound", envPrefix, l.name)
		default:
			return fmt.Errorf("%s%s must be a positive integer", envPrefix, l.name)
		}
	}
	return nil
}

// ---- -event-handler ----

// handlerFlags collects repeated -event-handler HUB=URL_TEMPLATE flags.
type handlerFlags struct {
	order []string // hubs, in the order first named
	byHub map[string][]emulator.EventHandler
}

// String is for the flag package; it lists the hubs only, since a URL may
// carry a ?code= secret.
func (h *handlerFlags) String() string {
	if h == nil {
		return ""
	}
	return strings.Join(h.order, ",")
}

// Set adds one handler with every system event and every user event.
func (h *handlerFlags) Set(v string) error {
	hub, tmpl, ok := strings.Cut(v, "=")
	hub = strings.TrimSpace(hub)
	if !ok || strings.TrimSpace(tmpl) == "" {
		return errors.New("want HUB=URL_TEMPLATE")
	}
	if hub == "_default" {
		hub = "*"
	}
	if hub != "*" && names.Hub(hub) != "" {
		return fmt.Errorf("%q is not a valid hub name", hub)
	}
	if h.byHub == nil {
		h.byHub = map[string][]emulator.EventHandler{}
	}
	key := strings.ToLower(hub)
	if _, seen := h.byHub[key]; !seen {
		h.order = append(h.order, hub)
	}
	h.byHub[key] = append(h.byHub[key], emulator.EventHandler{
		URLTemplate:      strings.TrimSpace(tmpl),
		UserEventPattern: "*",
		SystemEvents:     emulator.PossibleSystemEventValues(),
	})
	return nil
}

// apply replaces, hub by hub, the handlers of the lower layers.
func (h *handlerFlags) apply(s *settings) {
	for _, hub := range h.order {
		s.setEventHandlers(hub, h.byHub[strings.ToLower(hub)])
	}
}
