package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/emulator"
)

// TestLimitSettings: maxLogFieldBytes, maxGroupsPerConnection and
// maxBufferedBytes are read from the file and from AWPS_EMULATOR_*
// variables; -1 turns off the last two; zero, other negative values and
// non-integers are refused.
func TestLimitSettings(t *testing.T) {
	tests := []struct {
		name   string
		config string
		env    map[string]string
		want   emulator.Options // the three limits only
		bad    bool
	}{
		{name: "file", config: `{"maxLogFieldBytes": 64, "maxGroupsPerConnection": 20, "maxBufferedBytes": 1048576}`,
			want: emulator.Options{MaxLogFieldBytes: 64, MaxGroupsPerConnection: 20, MaxBufferedBytes: 1 << 20}},
		{name: "file, no bound", config: `{"MaxGroupsPerConnection": -1, "maxbufferedbytes": -1}`,
			want: emulator.Options{MaxGroupsPerConnection: -1, MaxBufferedBytes: -1}},
		{name: "environment over file", config: `{"maxLogFieldBytes": 64}`,
			env:  map[string]string{"AWPS_EMULATOR_MAXLOGFIELDBYTES": "32", "AWPS_EMULATOR_MAXGROUPSPERCONNECTION": "-1", "AWPS_EMULATOR_MAXBUFFEREDBYTES": "4096"},
			want: emulator.Options{MaxLogFieldBytes: 32, MaxGroupsPerConnection: -1, MaxBufferedBytes: 4096}},
		{name: "file: zero log field", config: `{"maxLogFieldBytes": 0}`, bad: true},
		{name: "file: no bound on log fields", config: `{"maxLogFieldBytes": -1}`, bad: true},
		{name: "file: zero groups", config: `{"maxGroupsPerConnection": 0}`, bad: true},
		{name: "file: -2 bytes", config: `{"maxBufferedBytes": -2}`, bad: true},
		{name: "file: a string", config: `{"maxBufferedBytes": "1"}`, bad: true},
		{name: "env: zero", env: map[string]string{"AWPS_EMULATOR_MAXLOGFIELDBYTES": "0"}, bad: true},
		{name: "env: -1 log field", env: map[string]string{"AWPS_EMULATOR_MAXLOGFIELDBYTES": "-1"}, bad: true},
		{name: "env: not a number", env: map[string]string{"AWPS_EMULATOR_MAXGROUPSPERCONNECTION": "many"}, bad: true},
		{name: "env: -3", env: map[string]string{"AWPS_EMULATOR_MAXBUFFEREDBYTES": "-3"}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSettings()
			var err error
			if tt.config != "" {
				err = s.applyConfig([]byte(tt.config))
			}
			if err == nil {
				err = s.applyEnv(func(k string) string { return tt.env[k] })
			}
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", s.o)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := s.options()
			if o.MaxLogFieldBytes != tt.want.MaxLogFieldBytes || o.MaxGroupsPerConnection != tt.want.MaxGroupsPerConnection || o.MaxBufferedBytes != tt.want.MaxBufferedBytes {
				t.Errorf("limits %d, %d, %d; want %d, %d, %d", o.MaxLogFieldBytes, o.MaxGroupsPerConnection, o.MaxBufferedBytes,
					tt.want.MaxLogFieldBytes, tt.want.MaxGroupsPerConnection, tt.want.MaxBufferedBytes)
			}
			if _, err := emulator.New(o); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}
