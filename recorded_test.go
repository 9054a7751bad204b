package webpubsub

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/internal/recording"
)

// Recorded tests: one per REST operation, replayed offline from
// testdata/recordings. Re-record with WEBPUBSUB_TEST_MODE=record, against
// AZURE_WEBPUBSUB_CONNECTION_STRING when set, else an in-process emulator.

const recordedHub = "recorded"

func newRecordedClient(t *testing.T) *ServiceClient {
	t.Helper()
	rec := recording.Start(t, recording.Options{
		LiveConnectionString: func(tb testing.TB) string {
			if cs := os.Getenv("AZURE_WEBPUBSUB_CONNECTION_STRING"); cs != "" {
				return cs
			}
			return emulator.NewTest(tb).ConnectionString()
		},
	})
	opts := &ClientOptions{}
	opts.Transport = rec
	opts.Retry.MaxRetries = -1
	if rec.Mode() == recording.ModePlayback {
		// Fixtures hold no Authorization; a fixed clock keeps client tokens
		// and signatures independent of the time of the run.
		opts.clock = fixedClock
	}
	c, err := NewServiceClientFromConnectionString(rec.ConnectionString(), recordedHub, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantResponseError checks err is an *azcore.ResponseError with status and code.
func wantResponseError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want *azcore.ResponseError %d %s, got %v", status, code, err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %q, want %d %q", re.StatusCode, re.ErrorCode, status, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var rctx = context.Background()

func TestRecordedSendToAll(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.SendToAll(rctx, TextMessage("hello"), &SendToAllOptions{Excluded: []string{"c1", "c 2"}, Filter: "userId ne 'x'", MessageTTLSeconds: ptr(10)})
	must(t, err)
}

func TestRecordedSendToAllInvalidFilter(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.SendToAll(rctx, TextMessage("hello"), &SendToAllOptions{Filter: "invalid filter"})
	wantResponseError(t, err, http.StatusBadRequest, "Error.BadRequest")
}

func TestRecordedSendToUser(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.SendToUser(rctx, "user 1", JSONMessage(map[string]any{"a": 1}), &SendToUserOptions{Filter: "'g' in groups"})
	must(t, err)
}

func TestRecordedSendToGroup(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.SendToGroup(rctx, "group 1", TextMessage("hi"), &SendToGroupOptions{Excluded: []string{"c1"}, MessageTTLSeconds: ptr(0)})
	must(t, err)
}

func TestRecordedSendToConnection(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.SendToConnection(rctx, "missing-connection", BinaryMessage([]byte{0, 1, 2, 255}), nil)
	must(t, err) // 202 even for a connection that does not exist
}

func TestRecordedAddUserToGroupMissing(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.AddUserToGroup(rctx, "group 1", "user 1", nil)
	wantResponseError(t, err, http.StatusNotFound, "Warning.User.NotExisted")
}

func TestRecordedRemoveUserFromGroup(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.RemoveUserFromGroup(rctx, "group 1", "user 1", nil)
	must(t, err)
}

func TestRecordedRemoveUserFromAllGroups(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.RemoveUserFromAllGroups(rctx, "user 1", nil)
	must(t, err)
}

func TestRecordedAddConnectionToGroupMissing(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.AddConnectionToGroup(rctx, "group 1", "missing-connection", nil)
	wantResponseError(t, err, http.StatusNotFound, "Error.Connection.NotExisted")
}

func TestRecordedRemoveConnectionFromGroup(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.RemoveConnectionFromGroup(rctx, "group 1", "missing-connection", nil)
	must(t, err)
}

func TestRecordedRemoveConnectionFromAllGroups(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.RemoveConnectionFromAllGroups(rctx, "missing-connection", nil)
	must(t, err)
}

func TestRecordedAddConnectionsToGroups(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.AddConnectionsToGroups(rctx, []string{"g1", "g 2"}, "userId eq 'user 1'", nil)
	must(t, err)
}

func TestRecordedAddConnectionsToGroupsInvalidFilter(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.AddConnectionsToGroups(rctx, []string{"g1"}, "invalid filter", nil)
	wantResponseError(t, err, http.StatusBadRequest, "Error.BadRequest")
}

func TestRecordedRemoveConnectionsFromGroups(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.RemoveConnectionsFromGroups(rctx, []string{"g1"}, "", nil)
	must(t, err)
}

func TestRecordedListConnectionsInGroup(t *testing.T) {
	c := newRecordedClient(t)
	members, err := listAll(rctx, c, "empty group", &ListConnectionsInGroupOptions{MaxPageSize: 10})
	must(t, err)
	if len(members) != 0 {
		t.Errorf("members %v", members)
	}
}

func TestRecordedConnectionExists(t *testing.T) {
	c := newRecordedClient(t)
	ok, err := c.ConnectionExists(rctx, "missing-connection", nil)
	if ok || err != nil {
		t.Fatalf("(%v, %v), want (false, nil)", ok, err)
	}
}

func TestRecordedUserExists(t *testing.T) {
	c := newRecordedClient(t)
	ok, err := c.UserExists(rctx, "user 1", nil)
	if ok || err != nil {
		t.Fatalf("(%v, %v), want (false, nil)", ok, err)
	}
}

func TestRecordedGroupExists(t *testing.T) {
	c := newRecordedClient(t)
	ok, err := c.GroupExists(rctx, "group 1", nil)
	if ok || err != nil {
		t.Fatalf("(%v, %v), want (false, nil)", ok, err)
	}
}

func TestRecordedCloseConnection(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.CloseConnection(rctx, "missing-connection", &CloseConnectionOptions{Reason: "bye now"})
	must(t, err)
}

func TestRecordedCloseAllConnections(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.CloseAllConnections(rctx, &CloseAllConnectionsOptions{Excluded: []string{"c1"}, Reason: "maintenance"})
	must(t, err)
}

func TestRecordedCloseUserConnections(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.CloseUserConnections(rctx, "user 1", &CloseUserConnectionsOptions{Reason: "r"})
	must(t, err)
}

func TestRecordedCloseGroupConnections(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.CloseGroupConnections(rctx, "group 1", &CloseGroupConnectionsOptions{Excluded: []string{"c1"}})
	must(t, err)
}

func TestRecordedGrantPermissionMissing(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.GrantPermission(rctx, PermissionJoinLeaveGroup, "missing-connection", &GrantPermissionOptions{TargetName: "group 1"})
	wantResponseError(t, err, http.StatusNotFound, "Info.Connection.NotExisted")
}

func TestRecordedRevokePermission(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.RevokePermission(rctx, PermissionSendToGroup, "missing-connection", &RevokePermissionOptions{TargetName: "group 1"})
	must(t, err)
}

func TestRecordedCheckPermission(t *testing.T) {
	c := newRecordedClient(t)
	ok, err := c.CheckPermission(rctx, PermissionSendToGroup, "missing-connection", nil)
	if ok || err != nil {
		t.Fatalf("(%v, %v), want (false, nil)", ok, err)
	}
}

func TestRecordedGetServiceStatus(t *testing.T) {
	c := newRecordedClient(t)
	_, err := c.GetServiceStatus(rctx, nil)
	must(t, err)
}

func TestRecordedGenerateToken(t *testing.T) {
	// The :generateToken operation, signed with the key (the Entra ID path
	// of GetClientAccessToken sends the same request with a bearer token).
	c := newRecordedClient(t)
	tok, exp, err := c.generateToken(rctx, &GetClientAccessTokenOptions{UserID: "user 1", Roles: []string{"webpubsub.sendToGroup"}, Groups: []string{"g1"}, ClientProtocol: ClientProtocolMQTT}, c.now(), 5*time.Minute)
	must(t, err)
	if tok == "" || exp.IsZero() {
		t.Fatalf("token %q, expiry %v", tok, exp)
	}
}
