package webpubsub

import (
	"context"
	"net/http"

	"github.com/gowebpubsub/webpubsub/internal/names"
)

// Permission is a permission that can be granted to a connection at run
// time, on one group (TargetName) or on all.
type Permission string

const (
	// PermissionSendToGroup lets a connection send to a group.
	PermissionSendToGroup Permission = names.PermissionSendToGroup
	// PermissionJoinLeaveGroup lets a connection join and leave a group.
	PermissionJoinLeaveGroup Permission = names.PermissionJoinLeaveGroup
)

// PossiblePermissionValues returns every Permission.
func PossiblePermissionValues() []Permission {
	return []Permission{PermissionSendToGroup, PermissionJoinLeaveGroup}
}

func validatePermission(p Permission) error {
	if p == "" {
		return &ValidationError{Name: "permission", Reason: "must not be empty (sendToGroup or joinLeaveGroup)"}
	}
	return nil
}

func permissionQuery(target string) (*query, error) {
	q := &query{}
	if target != "" {
		if err := validateGroup("TargetName", target); err != nil {
			return nil, err
		}
		q.add("targetName", target)
	}
	return q, nil
}

// GrantPermission grants permission to connectionID on the group
// TargetName (all groups when empty). It takes effect on the connection's
// next request. A connection that does not exist gives an
// *azcore.ResponseError with status 404 and ErrorCode
// "Info.Connection.NotExisted".
func (c *ServiceClient) GrantPermission(ctx context.Context, permission Permission, connectionID string, options *GrantPermissionOptions) (GrantPermissionResponse, error) {
	u, err := c.permissionURL(permission, connectionID, orZero(options).TargetName)
	err = c.bodyless(ctx, "ServiceClient.GrantPermission", http.MethodPut, err, u)
	return GrantPermissionResponse{}, err
}

// RevokePermission revokes a permission granted with GrantPermission. A
// missing connection is not an error. Permissions that come from the
// connection's token roles are not affected.
func (c *ServiceClient) RevokePermission(ctx context.Context, permission Permission, connectionID string, options *RevokePermissionOptions) (RevokePermissionResponse, error) {
	u, err := c.permissionURL(permission, connectionID, orZero(options).TargetName)
	err = c.bodyless(ctx, "ServiceClient.RevokePermission", http.MethodDelete, err, u)
	return RevokePermissionResponse{}, err
}

// CheckPermission reports whether connectionID has permission on the group
// TargetName: true on 200, false on 404; any other answer is an error.
func (c *ServiceClient) CheckPermission(ctx context.Context, permission Permission, connectionID string, options *CheckPermissionOptions) (bool, error) {
	u, err := c.permissionURL(permission, connectionID, orZero(options).TargetName)
	return c.probe(ctx, "ServiceClient.CheckPermission", err, u)
}

func (c *ServiceClient) permissionURL(permission Permission, connectionID, target string) (string, error) {
	if err := validatePermission(permission); err != nil {
		return "", err
	}
	if err := validateID("connectionID", connectionID); err != nil {
		return "", err
	}
	q, err := permissionQuery(target)
	if err != nil {
		return "", err
	}
	return c.url(q, "permissions", seg(string(permission)), "connections", seg(connectionID)), nil
}
