package webpubsub

import (
	"context"
	"net/http"
)

// ConnectionExists reports whether connectionID is connected to the hub:
// true on 200, false on 404; any other answer is an error.
func (c *ServiceClient) ConnectionExists(ctx context.Context, connectionID string, options *ConnectionExistsOptions) (bool, error) {
	return c.probe(ctx, "ServiceClient.ConnectionExists", validateID("connectionID", connectionID), c.url(nil, "connections", seg(connectionID)))
}

// UserExists reports whether userID has at least one connection to the hub:
// true on 200, false on 404; any other answer is an error.
func (c *ServiceClient) UserExists(ctx context.Context, userID string, options *UserExistsOptions) (bool, error) {
	return c.probe(ctx, "ServiceClient.UserExists", validateID("userID", userID), c.url(nil, "users", seg(userID)))
}

// GroupExists reports whether group has at least one connection: true on
// 200, false on 404; any other answer is an error.
func (c *ServiceClient) GroupExists(ctx context.Context, group string, options *GroupExistsOptions) (bool, error) {
	return c.probe(ctx, "ServiceClient.GroupExists", validateGroup("group", group), c.url(nil, "groups", seg(group)))
}

// CloseConnection closes one connection; subprotocol clients receive
// Reason in their disconnected message. A missing connection is not an error.
func (c *ServiceClient) CloseConnection(ctx context.Context, connectionID string, options *CloseConnectionOptions) (CloseConnectionResponse, error) {
	err := c.bodyless(ctx, "ServiceClient.CloseConnection", http.MethodDelete, validateID("connectionID", connectionID),
		c.url(closeQuery(nil, orZero(options).Reason), "connections", seg(connectionID)))
	return CloseConnectionResponse{}, err
}

// CloseAllConnections closes every connection of the hub except Excluded.
func (c *ServiceClient) CloseAllConnections(ctx context.Context, options *CloseAllConnectionsOptions) (CloseAllConnectionsResponse, error) {
	o := orZero(options)
	err := c.bodyless(ctx, "ServiceClient.CloseAllConnections", http.MethodPost, nil, c.url(closeQuery(o.Excluded, o.Reason), ":closeConnections"))
	return CloseAllConnectionsResponse{}, err
}

// CloseUserConnections closes every connection of userID except Excluded.
func (c *ServiceClient) CloseUserConnections(ctx context.Context, userID string, options *CloseUserConnectionsOptions) (CloseUserConnectionsResponse, error) {
	o := orZero(options)
	err := c.bodyless(ctx, "ServiceClient.CloseUserConnections", http.MethodPost, validateID("userID", userID),
		c.url(closeQuery(o.Excluded, o.Reason), "users", seg(userID), ":closeConnections"))
	return CloseUserConnectionsResponse{}, err
}

// CloseGroupConnections closes every connection in group except Excluded.
func (c *ServiceClient) CloseGroupConnections(ctx context.Context, group string, options *CloseGroupConnectionsOptions) (CloseGroupConnectionsResponse, error) {
	o := orZero(options)
	err := c.bodyless(ctx, "ServiceClient.CloseGroupConnections", http.MethodPost, validateGroup("group", group),
		c.url(closeQuery(o.Excluded, o.Reason), "groups", seg(group), ":closeConnections"))
	return CloseGroupConnectionsResponse{}, err
}

func closeQuery(excluded []string, reason string) *query {
	q := &query{}
	q.addAll("excluded", excluded)
	q.addOpt("reason", reason)
	return q
}

// GetServiceStatus checks the service's health (HEAD /api/health). It
// returns an empty GetServiceStatusResponse and a nil error when the
// service answers 200, else a non-nil error. The request is
// signed like any other, which the service ignores.
func (c *ServiceClient) GetServiceStatus(ctx context.Context, options *GetServiceStatusOptions) (GetServiceStatusResponse, error) {
	err := c.call(ctx, "ServiceClient.GetServiceStatus", func(ctx context.Context) error {
		req, err := c.newRequest(ctx, http.MethodHead, c.endpoint.String()+"/api/health?api-version="+escapeComponent(c.apiVersion, true))
		if err != nil {
			return err
		}
		_, err = c.do(req, http.StatusOK)
		return err
	})
	return GetServiceStatusResponse{}, err
}
