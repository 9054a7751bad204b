package webpubsub

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// transportFunc is a policy.Transporter built from a function.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// serveOnce returns a transport answering every request with status,
// headers and body, as the service does (no body on HEAD).
func serveOnce(status int, headers map[string]string, body string) policy.Transporter {
	return transportFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{}
		for k, v := range headers {
			h.Set(k, v)
		}
		if r.Method == http.MethodHead {
			body = ""
		}
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})
}

type serviceResponse struct {
	Name      string `json:"name"`
	Operation string `json:"operation"`
	Response  struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    *string           `json:"body"`
	} `json:"response"`
}

// operationCalls invokes each operation with plausible arguments and reports
// (exists result, error).
var operationCalls = map[string]func(ctx context.Context, c *ServiceClient) (bool, error){
	"WebPubSub_GrantPermission": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.GrantPermission(ctx, PermissionJoinLeaveGroup, "conn1", &GrantPermissionOptions{TargetName: "x"})
		return false, err
	},
	"WebPubSub_RevokePermission": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.RevokePermission(ctx, PermissionJoinLeaveGroup, "conn1", nil)
		return false, err
	},
	"WebPubSub_CheckPermission": func(ctx context.Context, c *ServiceClient) (bool, error) {
		return c.CheckPermission(ctx, PermissionSendToGroup, "conn1", nil)
	},
	"WebPubSub_AddConnectionToGroup": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.AddConnectionToGroup(ctx, "group", "xxxx", nil)
		return false, err
	},
	"WebPubSub_RemoveConnectionFromGroup": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.RemoveConnectionFromGroup(ctx, "group", "xxxx", nil)
		return false, err
	},
	"WebPubSub_AddUserToGroup": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.AddUserToGroup(ctx, "some_group", "some_user", nil)
		return false, err
	},
	"WebPubSub_RemoveUserFromGroup": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.RemoveUserFromGroup(ctx, "g", "u", nil)
		return false, err
	},
	"WebPubSub_RemoveUserFromAllGroups": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.RemoveUserFromAllGroups(ctx, "u", nil)
		return false, err
	},
	"WebPubSub_RemoveConnectionFromAllGroups": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.RemoveConnectionFromAllGroups(ctx, "c", nil)
		return false, err
	},
	"WebPubSub_SendToAll": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.SendToAll(ctx, TextMessage("x"), &SendToAllOptions{Filter: "invalid filter"})
		return false, err
	},
	"WebPubSub_SendToUser": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.SendToUser(ctx, "brian", TextMessage("x"), &SendToUserOptions{Filter: "invalid filter"})
		return false, err
	},
	"WebPubSub_SendToGroup": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.SendToGroup(ctx, "group", TextMessage("x"), &SendToGroupOptions{Filter: "invalid filter"})
		return false, err
	},
	"WebPubSub_SendToConnection": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.SendToConnection(ctx, "c", TextMessage("x"), nil)
		return false, err
	},
	"WebPubSub_AddConnectionsToGroups": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.AddConnectionsToGroups(ctx, []string{"g"}, "invalid filter", nil)
		return false, err
	},
	"WebPubSub_RemoveConnectionsFromGroups": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.RemoveConnectionsFromGroups(ctx, []string{"g"}, "invalid filter", nil)
		return false, err
	},
	"WebPubSub_UserExists": func(ctx context.Context, c *ServiceClient) (bool, error) {
		return c.UserExists(ctx, "foo", nil)
	},
	"WebPubSub_GroupExists": func(ctx context.Context, c *ServiceClient) (bool, error) {
		return c.GroupExists(ctx, "fake group", nil)
	},
	"WebPubSub_CloseAllConnections": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.CloseAllConnections(ctx, nil)
		return false, err
	},
	"WebPubSub_CloseConnection": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.CloseConnection(ctx, "conn1", nil)
		return false, err
	},
	"WebPubSub_CloseGroupConnections": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.CloseGroupConnections(ctx, "group1", nil)
		return false, err
	},
	"WebPubSub_CloseUserConnections": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.CloseUserConnections(ctx, "user1", nil)
		return false, err
	},
	"HealthApi_GetServiceStatus": func(ctx context.Context, c *ServiceClient) (bool, error) {
		_, err := c.GetServiceStatus(ctx, nil)
		return false, err
	},
}

func TestServiceResponses(t *testing.T) {
	b, err := os.ReadFile("testdata/service-responses.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Responses []serviceResponse `json:"responses"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, r := range f.Responses {
		call := operationCalls[r.Operation]
		if call == nil {
			continue // generateToken and list are covered by their own tests
		}
		ran++
		t.Run(r.Name, func(t *testing.T) {
			body := ""
			if r.Response.Body != nil {
				body = *r.Response.Body
			}
			c := newTestClient(t, serveOnce(r.Response.Status, r.Response.Headers, body))
			ok, err := call(context.Background(), c)
			isHead := strings.HasSuffix(r.Operation, "Exists") || r.Operation == "WebPubSub_CheckPermission"
			switch {
			case r.Response.Status >= 200 && r.Response.Status < 300:
				if err != nil {
					t.Fatalf("status %d: %v", r.Response.Status, err)
				}
				if isHead && !ok {
					t.Error("200 on a check must be true")
				}
			case isHead && r.Response.Status == 404:
				if err != nil || ok {
					t.Fatalf("404 on a check must be (false, nil), got (%v, %v)", ok, err)
				}
			default:
				var re *azcore.ResponseError
				if !errors.As(err, &re) {
					t.Fatalf("want *azcore.ResponseError, got %T %v", err, err)
				}
				if re.StatusCode != r.Response.Status {
					t.Errorf("status %d, want %d", re.StatusCode, r.Response.Status)
				}
				want := http.Header{}
				for k, v := range r.Response.Headers {
					want.Set(k, v)
				}
				if re.ErrorCode == "" || re.ErrorCode != want.Get("x-ms-error-code") {
					t.Errorf("ErrorCode %q, want %q", re.ErrorCode, want.Get("x-ms-error-code"))
				}
			}
		})
	}
	if ran < 40 {
		t.Fatalf("only %d responses exercised", ran)
	}
}

// newTestClient returns a key client on a fake endpoint using transport,
// with no retries and a fixed clock.
func newTestClient(t testing.TB, transport policy.Transporter) *ServiceClient {
	t.Helper()
	opts := &ClientOptions{clock: fixedClock}
	opts.Transport = transport
	opts.Retry.MaxRetries = -1
	c, err := NewServiceClientFromConnectionString("Endpoint=https://fake.webpubsub.azure.com;AccessKey="+testKey+";Version=1.0;", "hub", opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const testKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

func TestErrorCodeFromBody(t *testing.T) {
	tests := []struct {
		name, body, header, want string
	}{
		{"header wins", `{"code":"Body.Code"}`, "Header.Code", "Header.Code"},
		{"innererror null", `{"code":"Error.Connection.NotExisted","message":"m","target":"Connection","details":null,"innererror":null}`, "", "Error.Connection.NotExisted"},
		{"inner object", `{"code":"A","inner":{"code":"B","inner":{"code":"C"}}}`, "", "A"},
		{"innererror object", `{"code":"A","innererror":{"code":"B"}}`, "", "A"},
		{"wrapped", `{"error":{"code":"W"}}`, "", "W"},
		{"problem json", `{"code":"Error.BadRequest","errors":{"filter":["x"]},"title":"t","status":400}`, "", "Error.BadRequest"},
		{"not json", `oops`, "", ""},
		{"empty", ``, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			if tt.header != "" {
				h["x-ms-error-code"] = tt.header
			}
			c := newTestClient(t, serveOnce(http.StatusBadRequest, h, tt.body))
			_, err := c.AddConnectionToGroup(context.Background(), "g", "c", nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("got %v", err)
			}
			if re.ErrorCode != tt.want {
				t.Errorf("ErrorCode %q, want %q", re.ErrorCode, tt.want)
			}
		})
	}
}

func TestExistsUnexpectedStatusIsError(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusInternalServerError, http.StatusNoContent} {
		c := newTestClient(t, serveOnce(status, nil, ""))
		ok, err := c.ConnectionExists(context.Background(), "c", nil)
		var re *azcore.ResponseError
		if ok || !errors.As(err, &re) || re.StatusCode != status {
			t.Errorf("%d: got (%v, %v), want (false, ResponseError)", status, ok, err)
		}
	}
}
