package webpubsub

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gowebpubsub/webpubsub/internal/payload"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// AddUserToGroup adds every connection of userID, now and until they leave,
// to group. The service answers 404 (Warning.User.NotExisted) on older
// api-versions when the user has no connection; that is an
// *azcore.ResponseError.
func (c *ServiceClient) AddUserToGroup(ctx context.Context, group, userID string, options *AddUserToGroupOptions) (AddUserToGroupResponse, error) {
	err := c.bodyless(ctx, "ServiceClient.AddUserToGroup", http.MethodPut, cmp.Or(validateGroup("group", group), validateID("userID", userID)),
		c.url(nil, "users", seg(userID), "groups", seg(group)))
	return AddUserToGroupResponse{}, err
}

// RemoveUserFromGroup removes userID's connections from group. An unknown
// user is not an error.
func (c *ServiceClient) RemoveUserFromGroup(ctx context.Context, group, userID string, options *RemoveUserFromGroupOptions) (RemoveUserFromGroupResponse, error) {
	err := c.bodyless(ctx, "ServiceClient.RemoveUserFromGroup", http.MethodDelete, cmp.Or(validateGroup("group", group), validateID("userID", userID)),
		c.url(nil, "users", seg(userID), "groups", seg(group)))
	return RemoveUserFromGroupResponse{}, err
}

// RemoveUserFromAllGroups removes userID's connections from every group.
// An unknown user is not an error.
func (c *ServiceClient) RemoveUserFromAllGroups(ctx context.Context, userID string, options *RemoveUserFromAllGroupsOptions) (RemoveUserFromAllGroupsResponse, error) {
	err := c.bodyless(ctx, "ServiceClient.RemoveUserFromAllGroups", http.MethodDelete, validateID("userID", userID),
		c.url(nil, "users", seg(userID), "groups"))
	return RemoveUserFromAllGroupsResponse{}, err
}

// AddConnectionToGroup adds one connection to group. A connection that does
// not exist gives an *azcore.ResponseError with status 404 and ErrorCode
// "Error.Connection.NotExisted".
func (c *ServiceClient) AddConnectionToGroup(ctx context.Context, group, connectionID string, options *AddConnectionToGroupOptions) (AddConnectionToGroupResponse, error) {
	err := c.bodyless(ctx, "ServiceClient.AddConnectionToGroup", http.MethodPut, cmp.Or(validateGroup("group", group), validateID("connectionID", connectionID)),
		c.url(nil, "groups", seg(group), "connections", seg(connectionID)))
	return AddConnectionToGroupResponse{}, err
}

// RemoveConnectionFromGroup removes one connection from group. A missing
// connection is not an error.
func (c *ServiceClient) RemoveConnectionFromGroup(ctx context.Context, group, connectionID string, options *RemoveConnectionFromGroupOptions) (RemoveConnectionFromGroupResponse, error) {
	err := c.bodyless(ctx, "ServiceClient.RemoveConnectionFromGroup", http.MethodDelete, cmp.Or(validateGroup("group", group), validateID("connectionID", connectionID)),
		c.url(nil, "groups", seg(group), "connections", seg(connectionID)))
	return RemoveConnectionFromGroupResponse{}, err
}

// RemoveConnectionFromAllGroups removes one connection from every group it
// is in. A missing connection is not an error.
func (c *ServiceClient) RemoveConnectionFromAllGroups(ctx context.Context, connectionID string, options *RemoveConnectionFromAllGroupsOptions) (RemoveConnectionFromAllGroupsResponse, error) {
	err := c.bodyless(ctx, "ServiceClient.RemoveConnectionFromAllGroups", http.MethodDelete, validateID("connectionID", connectionID),
		c.url(nil, "connections", seg(connectionID), "groups"))
	return RemoveConnectionFromAllGroupsResponse{}, err
}

// groupsBody is the body of :addToGroups and :removeFromGroups.
type groupsBody struct {
	Groups []string `json:"groups"`
	Filter string   `json:"filter,omitempty"`
}

// AddConnectionsToGroups adds every connection of the hub that filter
// selects to each of groups (at least one). An empty filter selects every
// connection of the hub. An invalid filter gives an *azcore.ResponseError
// with status 400 and ErrorCode "Error.BadRequest", and changes nothing.
func (c *ServiceClient) AddConnectionsToGroups(ctx context.Context, groups []string, filter string, options *AddConnectionsToGroupsOptions) (AddConnectionsToGroupsResponse, error) {
	err := c.call(ctx, "ServiceClient.AddConnectionsToGroups", func(ctx context.Context) error {
		return c.batchGroups(ctx, ":addToGroups", groups, filter)
	})
	return AddConnectionsToGroupsResponse{}, err
}

// RemoveConnectionsFromGroups removes every connection of the hub that
// filter selects from each of groups (at least one). An empty filter selects
// every connection.
func (c *ServiceClient) RemoveConnectionsFromGroups(ctx context.Context, groups []string, filter string, options *RemoveConnectionsFromGroupsOptions) (RemoveConnectionsFromGroupsResponse, error) {
	err := c.call(ctx, "ServiceClient.RemoveConnectionsFromGroups", func(ctx context.Context) error {
		return c.batchGroups(ctx, ":removeFromGroups", groups, filter)
	})
	return RemoveConnectionsFromGroupsResponse{}, err
}

func (c *ServiceClient) batchGroups(ctx context.Context, action string, groups []string, filter string) error {
	if len(groups) == 0 {
		return &ValidationError{Name: "groups", Reason: "must name at least one group"}
	}
	for _, g := range groups {
		if err := validateGroup("groups", g); err != nil {
			return err
		}
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.url(nil, action))
	if err != nil {
		return err
	}
	// The JSON encoding of messages: group names and filters keep <, > and &.
	body := payload.JSON(groupsBody{Groups: groups, Filter: filter})
	if err := setBody(req, body.Data(), payload.MediaTypeJSON); err != nil {
		return err
	}
	_, err = c.do(req, http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	return err
}

// bodyless runs operation op: a request without a body to rawURL that
// succeeds on any 2xx, unless check (the arguments' validation) failed.
func (c *ServiceClient) bodyless(ctx context.Context, op, method string, check error, rawURL string) error {
	return c.call(ctx, op, func(ctx context.Context) error {
		if check != nil {
			return check
		}
		return c.simple(ctx, method, rawURL)
	})
}

// probe runs operation op: a HEAD of rawURL that reports true on 200 and
// false on 404, unless check (the arguments' validation) failed.
func (c *ServiceClient) probe(ctx context.Context, op string, check error, rawURL string) (bool, error) {
	var ok bool
	err := c.call(ctx, op, func(ctx context.Context) error {
		if check != nil {
			return check
		}
		var err error
		ok, err = c.exists(ctx, rawURL)
		return err
	})
	return ok, err
}

// simple sends a request without a body and accepts any 2xx.
func (c *ServiceClient) simple(ctx context.Context, method, rawURL string) error {
	req, err := c.newRequest(ctx, method, rawURL)
	if err != nil {
		return err
	}
	_, err = c.do(req, http.StatusOK, http.StatusAccepted, http.StatusNoContent, http.StatusCreated)
	return err
}

// listPage is the wire shape of a page of ListConnectionsInGroup.
type listPage struct {
	Value    []GroupMember `json:"value"`
	NextLink string        `json:"nextLink"`
}

// NewListConnectionsInGroupPager lists the connections in group, page by
// page (api-version 2024-12-01 or later). Each next page is requested on the
// configured endpoint (and reverse proxy) with the continuation of the
// service's nextLink, the client's api-version and a fresh signature.
// A nextLink for another path, or the same nextLink twice, ends the listing
// with an error. Invalid arguments are reported by the first NextPage call.
func (c *ServiceClient) NewListConnectionsInGroupPager(group string, options *ListConnectionsInGroupOptions) *runtime.Pager[ListConnectionsInGroupResponse] {
	opts := *orZero(options)
	var prevLink string
	var nextQuery string // raw query (without api-version) of the next page
	started := false
	return runtime.NewPager(runtime.PagingHandler[ListConnectionsInGroupResponse]{
		More: func(page ListConnectionsInGroupResponse) bool {
			return nextQuery != ""
		},
		Fetcher: func(ctx context.Context, _ *ListConnectionsInGroupResponse) (ListConnectionsInGroupResponse, error) {
			var out ListConnectionsInGroupResponse
			err := c.call(ctx, "ServiceClient.ListConnectionsInGroup", func(ctx context.Context) error {
				if err := validateGroup("group", group); err != nil {
					return err
				}
				var rawURL string
				if !started {
					q := &query{}
					if opts.MaxPageSize != 0 {
						if opts.MaxPageSize < 1 || opts.MaxPageSize > 200 {
							return &ValidationError{Name: "MaxPageSize", Value: strconv.Itoa(opts.MaxPageSize), Reason: "must be in 1..200"}
						}
						q.add("maxpagesize", strconv.Itoa(opts.MaxPageSize))
					}
					if opts.Top != 0 {
						if opts.Top < 1 || int64(opts.Top) > 2147483647 {
							return &ValidationError{Name: "Top", Value: strconv.Itoa(opts.Top), Reason: "must be in 1..2147483647"}
						}
						q.add("top", strconv.Itoa(opts.Top))
					}
					q.addOpt("continuationToken", opts.ContinuationToken)
					rawURL = c.url(q, "groups", seg(group), "connections")
				} else {
					rawURL = c.url(nil, "groups", seg(group), "connections") + "&" + nextQuery
				}
				req, err := c.newRequest(ctx, http.MethodGet, rawURL)
				if err != nil {
					return err
				}
				resp, err := c.do(req, http.StatusOK)
				if err != nil {
					return err
				}
				started = true
				var page listPage
				if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
					return err
				}
				out.Connections = page.Value
				nextQuery = ""
				if page.NextLink == "" {
					return nil
				}
				if page.NextLink == prevLink {
					return errors.New("webpubsub: the service returned the same nextLink twice; stopping to avoid an endless listing")
				}
				prevLink = page.NextLink
				nq, token, err := parseNextLink(page.NextLink, c.hub, group)
				if err != nil {
					return err
				}
				nextQuery = nq
				out.ContinuationToken = token
				return nil
			})
			return out, err
		},
	})
}

// parseNextLink checks that link addresses the same list operation and
// returns its raw query without api-version, and its decoded
// continuationToken.
func parseNextLink(link, hub, group string) (rawQuery, token string, err error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", "", errors.New("webpubsub: the service returned a nextLink that is not a URL")
	}
	want := "/api/hubs/" + hub + "/groups/" + group + "/connections"
	if !strings.HasSuffix(u.Path, want) {
		return "", "", errors.New("webpubsub: the service returned a nextLink for another operation (path does not end in " + want + ")")
	}
	var kept []string
	for _, p := range strings.Split(u.RawQuery, "&") {
		if p == "" {
			continue
		}
		k := p
		if i := strings.IndexByte(p, '='); i >= 0 {
			k = p[:i]
			if k == "continuationToken" {
				if v, err := url.QueryUnescape(p[i+1:]); err == nil {
					token = v
				}
			}
		}
		if strings.EqualFold(k, "api-version") {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return "", "", errors.New("webpubsub: the service returned a nextLink without a continuation")
	}
	return strings.Join(kept, "&"), token, nil
}
