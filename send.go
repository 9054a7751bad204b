package webpubsub

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/gowebpubsub/webpubsub/internal/names"
)

// SendToAll sends msg to every connection of the hub, less Excluded, that
// Filter selects. The service answers 202 once it has accepted the message;
// delivery is asynchronous.
//
// By default a send is not retried after a failure that may have happened
// after the service accepted it (see ClientOptions.RetryAmbiguousSends).
func (c *ServiceClient) SendToAll(ctx context.Context, msg Message, options *SendToAllOptions) (SendToAllResponse, error) {
	o := orZero(options)
	return SendToAllResponse{}, c.sendTo(ctx, "ServiceClient.SendToAll", nil, msg,
		sendParams{excluded: o.Excluded, filter: o.Filter, ttl: o.MessageTTLSeconds, retry: o.RetryAmbiguousSends}, ":send")
}

// SendToUser sends msg to every connection of userID that Filter selects.
// A user without connections is not an error (the service answers 202).
func (c *ServiceClient) SendToUser(ctx context.Context, userID string, msg Message, options *SendToUserOptions) (SendToUserResponse, error) {
	o := orZero(options)
	return SendToUserResponse{}, c.sendTo(ctx, "ServiceClient.SendToUser", validateID("userID", userID), msg,
		sendParams{filter: o.Filter, ttl: o.MessageTTLSeconds, retry: o.RetryAmbiguousSends}, "users", seg(userID), ":send")
}

// SendToGroup sends msg to every connection in group, less Excluded, that
// Filter selects.
func (c *ServiceClient) SendToGroup(ctx context.Context, group string, msg Message, options *SendToGroupOptions) (SendToGroupResponse, error) {
	o := orZero(options)
	return SendToGroupResponse{}, c.sendTo(ctx, "ServiceClient.SendToGroup", validateGroup("group", group), msg,
		sendParams{excluded: o.Excluded, filter: o.Filter, ttl: o.MessageTTLSeconds, retry: o.RetryAmbiguousSends}, "groups", seg(group), ":send")
}

// SendToConnection sends msg to one connection. A connection that does not
// exist is not an error (the service answers 202).
func (c *ServiceClient) SendToConnection(ctx context.Context, connectionID string, msg Message, options *SendToConnectionOptions) (SendToConnectionResponse, error) {
	o := orZero(options)
	return SendToConnectionResponse{}, c.sendTo(ctx, "ServiceClient.SendToConnection", validateID("connectionID", connectionID), msg,
		sendParams{ttl: o.MessageTTLSeconds, retry: o.RetryAmbiguousSends}, "connections", seg(connectionID), ":send")
}

// sendParams are the optional parameters of a send; those that a send's
// options do not have stay zero.
type sendParams struct {
	excluded []string
	filter   string
	ttl      *int  // MessageTTLSeconds
	retry    *bool // RetryAmbiguousSends
}

// addTo adds excluded*, filter and messageTtlSeconds to q, in wire order.
func (p sendParams) addTo(q *query) error {
	q.addAll("excluded", p.excluded)
	q.addOpt("filter", p.filter)
	if p.ttl != nil {
		if *p.ttl < 0 || *p.ttl > 300 {
			return &ValidationError{Name: "MessageTTLSeconds", Value: strconv.Itoa(*p.ttl), Reason: "must be in 0..300"}
		}
		q.add("messageTtlSeconds", strconv.Itoa(*p.ttl))
	}
	return nil
}

// sendTo runs operation op: it posts msg to the route path below the hub
// with the query of p, expecting 202, unless check (the target's
// validation) failed.
func (c *ServiceClient) sendTo(ctx context.Context, op string, check error, msg Message, p sendParams, path ...string) error {
	mode := sendNoRetry
	if p.retry != nil && *p.retry || p.retry == nil && c.retrySends {
		mode = sendRetry
	}
	return c.callOp(ctx, op, mode, func(ctx context.Context) error {
		if check != nil {
			return check
		}
		var q query
		if err := p.addTo(&q); err != nil {
			return err
		}
		if err := msg.validate(); err != nil {
			return err
		}
		req, err := c.newRequest(ctx, http.MethodPost, c.url(&q, path...))
		if err != nil {
			return err
		}
		if err := setBody(req, msg.p.Data(), msg.p.DataType().MediaType()); err != nil {
			return err
		}
		// A send's success has no body to read: skip azcore's download of
		// it into memory, and discard it here (failures are still
		// downloaded, for the error).
		runtime.SkipBodyDownload(req)
		resp, err := c.do(req, http.StatusAccepted, http.StatusOK, http.StatusNoContent)
		if err != nil {
			return err
		}
		discardBody(resp)
		return nil
	})
}

// discardBody reads what is left of a success body that carries nothing
// (at most 64 KiB, so that the connection can be reused), closes it and
// leaves an empty body in its place, for a response captured with
// policy.WithCaptureResponse.
func discardBody(resp *http.Response) {
	if resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	resp.Body = http.NoBody
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
