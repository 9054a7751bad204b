package webpubsub

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gowebpubsub/webpubsub/internal/names"
)

// SendToAll sends msg to every connection of the hub, less Excluded, that
// Filter selects. The service answers 202 once it has accepted the message;
// delivery is asynchronous.
//
// By default a send is not retried after a failure that may have happened
// after the service accepted it (see ClientOptions.RetryAmbiguousSends).
func (c *ServiceClient) SendToAll(ctx context.Context, msg Message, options *SendToAllOptions) (SendToAllResponse, error) {
	if options == nil {
		options = &SendToAllOptions{}
	}
	err := c.call(ctx, "ServiceClient.SendToAll", func(ctx context.Context) error {
		q, err := sendQuery(options.Excluded, options.Filter, options.MessageTTLSeconds)
		if err != nil {
			return err
		}
		return c.send(ctx, c.url(q, ":send"), msg, options.RetryAmbiguousSends)
	})
	return SendToAllResponse{}, err
}

// SendToUser sends msg to every connection of userID that Filter selects.
// A user without connections is not an error (the service answers 202).
func (c *ServiceClient) SendToUser(ctx context.Context, userID string, msg Message, options *SendToUserOptions) (SendToUserResponse, error) {
	if options == nil {
		options = &SendToUserOptions{}
	}
	err := c.call(ctx, "ServiceClient.SendToUser", func(ctx context.Context) error {
		if err := validateID("userID", userID); err != nil {
			return err
		}
		q, err := sendQuery(nil, options.Filter, options.MessageTTLSeconds)
		if err != nil {
			return err
		}
		return c.send(ctx, c.url(q, "users", seg(userID), ":send"), msg, options.RetryAmbiguousSends)
	})
	return SendToUserResponse{}, err
}

// SendToGroup sends msg to every connection in group, less Excluded, that
// Filter selects.
func (c *ServiceClient) SendToGroup(ctx context.Context, group string, msg Message, options *SendToGroupOptions) (SendToGroupResponse, error) {
	if options == nil {
		options = &SendToGroupOptions{}
	}
	err := c.call(ctx, "ServiceClient.SendToGroup", func(ctx context.Context) error {
		if err := validateGroup("group", group); err != nil {
			return err
		}
		q, err := sendQuery(options.Excluded, options.Filter, options.MessageTTLSeconds)
		if err != nil {
			return err
		}
		return c.send(ctx, c.url(q, "groups", seg(group), ":send"), msg, options.RetryAmbiguousSends)
	})
	return SendToGroupResponse{}, err
}

// SendToConnection sends msg to one connection. A connection that does not
// exist is not an error (the service answers 202).
func (c *ServiceClient) SendToConnection(ctx context.Context, connectionID string, msg Message, options *SendToConnectionOptions) (SendToConnectionResponse, error) {
	if options == nil {
		options = &SendToConnectionOptions{}
	}
	err := c.call(ctx, "ServiceClient.SendToConnection", func(ctx context.Context) error {
		if err := validateID("connectionID", connectionID); err != nil {
			return err
		}
		q, err := sendQuery(nil, "", options.MessageTTLSeconds)
		if err != nil {
			return err
		}
		return c.send(ctx, c.url(q, "connections", seg(connectionID), ":send"), msg, options.RetryAmbiguousSends)
	})
	return SendToConnectionResponse{}, err
}

// sendQuery builds excluded*, filter and messageTtlSeconds, in wire order.
func sendQuery(excluded []string, filter string, ttl *int) (*query, error) {
	q := &query{}
	q.addAll("excluded", excluded)
	q.addOpt("filter", filter)
	if ttl != nil {
		if *ttl < 0 || *ttl > 300 {
			return nil, &ValidationError{Name: "MessageTTLSeconds", Value: strconv.Itoa(*ttl), Reason: "must be in 0..300"}
		}
		q.add("messageTtlSeconds", strconv.Itoa(*ttl))
	}
	return q, nil
}

// send posts msg to rawURL, expecting 202.
func (c *ServiceClient) send(ctx context.Context, rawURL string, msg Message, retry *bool) error {
	if err := msg.validate(); err != nil {
		return err
	}
	r := c.retrySends
	if retry != nil {
		r = *retry
	}
	req, err := c.newRequest(withSendRetry(ctx, r), http.MethodPost, rawURL)
	if err != nil {
		return err
	}
	if err := setBody(req, msg.p.Data(), msg.p.DataType().MediaType()); err != nil {
		return err
	}
	_, err = c.do(req, http.StatusAccepted, http.StatusOK, http.StatusNoContent)
	return err
}

// validateID rejects an empty connection or user id: it would change the
// route of the request.
func validateID(name, id string) error {
	if r := names.ID(id); r != "" {
		return &ValidationError{Name: name, Reason: r}
	}
	return nil
}

// validateGroup applies the group name rule of internal/names.
func validateGroup(name, group string) error {
	if r := names.Group(group); r != "" {
		v := group
		if group == "" || len(group) > names.MaxGroupLength {
			v = ""
		}
		return &ValidationError{Name: name, Value: v, Reason: r}
	}
	return nil
}
