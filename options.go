package webpubsub

// Options of every operation. A nil pointer means all defaults. Responses
// are structs so that fields can be added later without breaking callers.

// SendToAllOptions are the optional parameters of ServiceClient.SendToAll.
type SendToAllOptions struct {
	// Excluded lists connection ids that do not receive the message.
	Excluded []string
	// Filter is an OData filter selecting the connections that receive the
	// message (build it with FormatFilter or FilterValue; see the package
	// documentation). "" means all.
	Filter string
	// MessageTTLSeconds, when non-nil, is how long (0..300 seconds) the
	// service keeps trying to deliver the message; nil means the service
	// default.
	MessageTTLSeconds *int
	// RetryAmbiguousSends, when non-nil, overrides
	// ClientOptions.RetryAmbiguousSends for this call.
	RetryAmbiguousSends *bool
}

// SendToAllResponse is the result of ServiceClient.SendToAll.
type SendToAllResponse struct{}

// SendToUserOptions are the optional parameters of ServiceClient.SendToUser.
type SendToUserOptions struct {
	// Filter is an OData filter over the user's connections. "" means all.
	Filter string
	// MessageTTLSeconds: see SendToAllOptions.MessageTTLSeconds.
	MessageTTLSeconds *int
	// RetryAmbiguousSends: see SendToAllOptions.RetryAmbiguousSends.
	RetryAmbiguousSends *bool
}

// SendToUserResponse is the result of ServiceClient.SendToUser.
type SendToUserResponse struct{}

// SendToGroupOptions are the optional parameters of ServiceClient.SendToGroup.
type SendToGroupOptions struct {
	// Excluded lists connection ids that do not receive the message.
	Excluded []string
	// Filter is an OData filter over the group's connections. "" means all.
	Filter string
	// MessageTTLSeconds: see SendToAllOptions.MessageTTLSeconds.
	MessageTTLSeconds *int
	// RetryAmbiguousSends: see SendToAllOptions.RetryAmbiguousSends.
	RetryAmbiguousSends *bool
}

// SendToGroupResponse is the result of ServiceClient.SendToGroup.
type SendToGroupResponse struct{}

// SendToConnectionOptions are the optional parameters of
// ServiceClient.SendToConnection. The operation has no filter.
type SendToConnectionOptions struct {
	// MessageTTLSeconds: see SendToAllOptions.MessageTTLSeconds.
	MessageTTLSeconds *int
	// RetryAmbiguousSends: see SendToAllOptions.RetryAmbiguousSends.
	RetryAmbiguousSends *bool
}

// SendToConnectionResponse is the result of ServiceClient.SendToConnection.
type SendToConnectionResponse struct{}

// AddUserToGroupOptions are the optional parameters of ServiceClient.AddUserToGroup.
type AddUserToGroupOptions struct{}

// AddUserToGroupResponse is the result of ServiceClient.AddUserToGroup.
type AddUserToGroupResponse struct{}

// RemoveUserFromGroupOptions are the optional parameters of ServiceClient.RemoveUserFromGroup.
type RemoveUserFromGroupOptions struct{}

// RemoveUserFromGroupResponse is the result of ServiceClient.RemoveUserFromGroup.
type RemoveUserFromGroupResponse struct{}

// RemoveUserFromAllGroupsOptions are the optional parameters of ServiceClient.RemoveUserFromAllGroups.
type RemoveUserFromAllGroupsOptions struct{}

// RemoveUserFromAllGroupsResponse is the result of ServiceClient.RemoveUserFromAllGroups.
type RemoveUserFromAllGroupsResponse struct{}

// AddConnectionToGroupOptions are the optional parameters of ServiceClient.AddConnectionToGroup.
type AddConnectionToGroupOptions struct{}

// AddConnectionToGroupResponse is the result of ServiceClient.AddConnectionToGroup.
type AddConnectionToGroupResponse struct{}

// RemoveConnectionFromGroupOptions are the optional parameters of ServiceClient.RemoveConnectionFromGroup.
type RemoveConnectionFromGroupOptions struct{}

// RemoveConnectionFromGroupResponse is the result of ServiceClient.RemoveConnectionFromGroup.
type RemoveConnectionFromGroupResponse struct{}

// RemoveConnectionFromAllGroupsOptions are the optional parameters of ServiceClient.RemoveConnectionFromAllGroups.
type RemoveConnectionFromAllGroupsOptions struct{}

// RemoveConnectionFromAllGroupsResponse is the result of ServiceClient.RemoveConnectionFromAllGroups.
type RemoveConnectionFromAllGroupsResponse struct{}

// AddConnectionsToGroupsOptions are the optional parameters of ServiceClient.AddConnectionsToGroups.
type AddConnectionsToGroupsOptions struct{}

// AddConnectionsToGroupsResponse is the result of ServiceClient.AddConnectionsToGroups.
type AddConnectionsToGroupsResponse struct{}

// RemoveConnectionsFromGroupsOptions are the optional parameters of ServiceClient.RemoveConnectionsFromGroups.
type RemoveConnectionsFromGroupsOptions struct{}

// RemoveConnectionsFromGroupsResponse is the result of ServiceClient.RemoveConnectionsFromGroups.
type RemoveConnectionsFromGroupsResponse struct{}

// ListConnectionsInGroupOptions are the optional parameters of
// ServiceClient.NewListConnectionsInGroupPager.
type ListConnectionsInGroupOptions struct {
	// MaxPageSize, when > 0, is the largest number of connections per page
	// (1..200).
	MaxPageSize int
	// Top, when > 0, is the largest number of connections in total, across
	// all pages (1..2147483647).
	Top int
	// ContinuationToken resumes a listing from the page whose
	// ListConnectionsInGroupResponse.ContinuationToken it is.
	ContinuationToken string
}

// GroupMember is one connection in a group.
type GroupMember struct {
	// ConnectionID is the connection's id.
	ConnectionID string `json:"connectionId"`
	// UserID is the connection's user, "" for an anonymous connection.
	UserID string `json:"userId,omitempty"`
}

// ListConnectionsInGroupResponse is one page of
// ServiceClient.NewListConnectionsInGroupPager.
type ListConnectionsInGroupResponse struct {
	// Connections are the members on this page.
	Connections []GroupMember
	// ContinuationToken resumes the listing after this page (pass it as
	// ListConnectionsInGroupOptions.ContinuationToken); "" on the last page.
	ContinuationToken string
}

// ConnectionExistsOptions are the optional parameters of ServiceClient.ConnectionExists.
type ConnectionExistsOptions struct{}

// UserExistsOptions are the optional parameters of ServiceClient.UserExists.
type UserExistsOptions struct{}

// GroupExistsOptions are the optional parameters of ServiceClient.GroupExists.
type GroupExistsOptions struct{}

// CloseConnectionOptions are the optional parameters of ServiceClient.CloseConnection.
type CloseConnectionOptions struct {
	// Reason is sent to the client in its disconnected message.
	Reason string
}

// CloseConnectionResponse is the result of ServiceClient.CloseConnection.
type CloseConnectionResponse struct{}

// CloseAllConnectionsOptions are the optional parameters of ServiceClient.CloseAllConnections.
type CloseAllConnectionsOptions struct {
	// Excluded lists connection ids that stay open.
	Excluded []string
	// Reason is sent to the clients in their disconnected message.
	Reason string
}

// CloseAllConnectionsResponse is the result of ServiceClient.CloseAllConnections.
type CloseAllConnectionsResponse struct{}

// CloseUserConnectionsOptions are the optional parameters of ServiceClient.CloseUserConnections.
type CloseUserConnectionsOptions struct {
	// Excluded lists connection ids that stay open.
	Excluded []string
	// Reason is sent to the clients in their disconnected message.
	Reason string
}

// CloseUserConnectionsResponse is the result of ServiceClient.CloseUserConnections.
type CloseUserConnectionsResponse struct{}

// CloseGroupConnectionsOptions are the optional parameters of ServiceClient.CloseGroupConnections.
type CloseGroupConnectionsOptions struct {
	// Excluded lists connection ids that stay open.
	Excluded []string
	// Reason is sent to the clients in their disconnected message.
	Reason string
}

// CloseGroupConnectionsResponse is the result of ServiceClient.CloseGroupConnections.
type CloseGroupConnectionsResponse struct{}

// GrantPermissionOptions are the optional parameters of ServiceClient.GrantPermission.
type GrantPermissionOptions struct {
	// TargetName is the group the permission applies to. The REST spec calls
	// it required while the service accepts its absence (then the permission
	// applies to every group); "" sends none.
	TargetName string
}

// GrantPermissionResponse is the result of ServiceClient.GrantPermission.
type GrantPermissionResponse struct{}

// RevokePermissionOptions are the optional parameters of ServiceClient.RevokePermission.
type RevokePermissionOptions struct {
	// TargetName: see GrantPermissionOptions.TargetName.
	TargetName string
}

// RevokePermissionResponse is the result of ServiceClient.RevokePermission.
type RevokePermissionResponse struct{}

// CheckPermissionOptions are the optional parameters of ServiceClient.CheckPermission.
type CheckPermissionOptions struct {
	// TargetName: see GrantPermissionOptions.TargetName.
	TargetName string
}

// GetServiceStatusOptions are the optional parameters of ServiceClient.GetServiceStatus.
type GetServiceStatusOptions struct{}

// GetServiceStatusResponse is the result of ServiceClient.GetServiceStatus.
type GetServiceStatusResponse struct{}
