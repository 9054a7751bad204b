package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// Operation names a REST operation of the data plane, after the method
// of the service client that calls it, or a client handshake
// (OperationConnect, OperationRecover). FailNext and DelayNext take one.
type Operation string

// The operations of the REST data plane, named after the service
// client's methods.
const (
	OperationGetServiceStatus              Operation = "GetServiceStatus"
	OperationSendToAll                     Operation = "SendToAll"
	OperationSendToUser                    Operation = "SendToUser"
	OperationSendToGroup                   Operation = "SendToGroup"
	OperationSendToConnection              Operation = "SendToConnection"
	OperationAddConnectionToGroup          Operation = "AddConnectionToGroup"
	OperationRemoveConnectionFromGroup     Operation = "RemoveConnectionFromGroup"
	OperationRemoveConnectionFromAllGroups Operation = "RemoveConnectionFromAllGroups"
	OperationAddConnectionsToGroups        Operation = "AddConnectionsToGroups"
	OperationRemoveConnectionsFromGroups   Operation = "RemoveConnectionsFromGroups"
	OperationAddUserToGroup                Operation = "AddUserToGroup"
	OperationRemoveUserFromGroup           Operation = "RemoveUserFromGroup"
	OperationRemoveUserFromAllGroups       Operation = "RemoveUserFromAllGroups"
	OperationListConnectionsInGroup        Operation = "ListConnectionsInGroup"
	OperationConnectionExists              Operation = "ConnectionExists"
	OperationUserExists                    Operation = "UserExists"
	OperationGroupExists                   Operation = "GroupExists"
	OperationCloseConnection               Operation = "CloseConnection"
	OperationCloseAllConnections           Operation = "CloseAllConnections"
	OperationCloseUserConnections          Operation = "CloseUserConnections"
	OperationCloseGroupConnections         Operation = "CloseGroupConnections"
	OperationGrantPermission               Operation = "GrantPermission"
	OperationRevokePermission              Operation = "RevokePermission"
	OperationCheckPermission               Operation = "CheckPermission"
	OperationGetClientAccessToken          Operation = "GetClientAccessToken"
)

// The two kinds of client handshake.
const (
	// OperationConnect is the WebSocket handshake of a new client
	// connection.
	OperationConnect Operation = "Connect"
	// OperationRecover is the WebSocket handshake of a reliable client's
	// recovery (a request with awps_connection_id).
	OperationRecover Operation = "Recover"
)

// PossibleOperationValues returns every Operation, REST operations first.
func PossibleOperationValues() []Operation {
	return []Operation{
		OperationGetServiceStatus, OperationSendToAll, OperationSendToUser, OperationSendToGroup,
		OperationSendToConnection, OperationAddConnectionToGroup, OperationRemoveConnectionFromGroup,
		OperationRemoveConnectionFromAllGroups, OperationAddConnectionsToGroups,
		OperationRemoveConnectionsFromGroups, OperationAddUserToGroup, OperationRemoveUserFromGroup,
		OperationRemoveUserFromAllGroups, OperationListConnectionsInGroup, OperationConnectionExists,
		OperationUserExists, OperationGroupExists, OperationCloseConnection, OperationCloseAllConnections,
		OperationCloseUserConnections, OperationCloseGroupConnections, OperationGrantPermission,
		OperationRevokePermission, OperationCheckPermission, OperationGetClientAccessToken,
		OperationConnect, OperationRecover,
	}
}

// Failure is the answer FailNext gives instead of running an operation.
type Failure struct {
	// Status is the HTTP status, 400 to 599. Required.
	Status int
	// ErrorCode, when set, is sent as x-ms-error-code and as the code of
	// the JSON error body of a REST operation (the ErrorCode of the
	// SDK's *azcore.ResponseError).
	ErrorCode string
	// Message is the error message; empty means "Injected failure.".
	Message string
	// RetryAfter, when positive, is sent as Retry-After in whole seconds
	// (rounded up).
	RetryAfter time.Duration
}

// fault is one injected fault of an operation: a failure or a delay.
type fault struct {
	failure *Failure
	delay   time.Duration
}

// faultQueues holds the pending faults of each operation, consumed one
// per call in the order they were injected.
type faultQueues struct {
	mu sync.Mutex
	q  map[Operation][]fault
}

func (f *faultQueues) add(op Operation, n int, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.q == nil {
		f.q = map[Operation][]fault{}
	}
	for range n {
		f.q[op] = append(f.q[op], ft)
	}
}

func (f *faultQueues) take(op Operation) (fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.q[op]
	if len(q) == 0 {
		return fault{}, false
	}
	f.q[op] = q[1:]
	return q[0], true
}

func checkInjection(op Operation, n int) error {
	if !slices.Contains(PossibleOperationValues(), op) {
		return fmt.Errorf("emulator: unknown operation %q", string(op))
	}
	if n < 1 {
		return fmt.Errorf("emulator: the number of calls must be at least 1, not %d", n)
	}
	return nil
}

// FailNext makes the next n calls of op answer f instead of running: a
// REST call gets f.Status with the JSON error body of the service, a
// handshake gets f.Status with a text body before any other check. The
// failures queue up behind the faults already injected for op, each
// consumed by one call. It returns an error, and injects nothing, when op
// is unknown, n is less than 1 or f.Status is not 400 to 599. Safe for
// concurrent use.
func (e *Emulator) FailNext(op Operation, n int, f Failure) error {
	if err := checkInjection(op, n); err != nil {
		return err
	}
	if f.Status < 400 || f.Status > 599 {
		return fmt.Errorf("emulator: Failure.Status %d is not an error status (400 to 599)", f.Status)
	}
	if f.Message == "" {
		f.Message = "Injected failure."
	}
	e.faults.add(op, n, fault{failure: &f})
	return nil
}

// DelayNext makes each of the next n calls of op wait d on the emulator's
// clock before it runs normally (with a FakeClock, until the clock is
// advanced past d). A call whose client gives up, or that is still
// waiting when Close begins, ends without running. Delays queue up as
// FailNext's failures do; the errors are FailNext's, and d must not be
// negative.
func (e *Emulator) DelayNext(op Operation, n int, d time.Duration) error {
	if err := checkInjection(op, n); err != nil {
		return err
	}
	if d < 0 {
		return errors.New("emulator: the delay must not be negative")
	}
	e.faults.add(op, n, fault{delay: d})
	return nil
}

// ClearFaults drops every pending fault of FailNext and DelayNext. The
// faults injected on single connections stay.
func (e *Emulator) ClearFaults() {
	e.faults.mu.Lock()
	e.faults.q = nil
	e.faults.mu.Unlock()
}

// applyFault consumes the next fault of op, if any: it waits out a delay
// and writes a failure. It reports whether the call should go on. rest
// selects the REST error body; a handshake gets text.
func (e *Emulator) applyFault(w http.ResponseWriter, r *http.Request, op Operation, rest bool) bool {
	ft, ok := e.faults.take(op)
	if !ok {
		return true
	}
	if ft.delay > 0 {
		t := newClockTimer(e.clock, ft.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-e.shutdown:
			plainError(w, http.StatusServiceUnavailable, "The emulator is shutting down.")
			return false
		}
	}
	f := ft.failure
	if f == nil {
		return true
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((f.RetryAfter+time.Second-1)/time.Second), 10))
	}
	if f.ErrorCode != "" {
		w.Header().Set("x-ms-error-code", f.ErrorCode)
	}
	if rest {
		writeJSON(w, f.Status, "application/json; charset=utf-8", azureError{Code: f.ErrorCode, Message: f.Message})
	} else {
		plainError(w, f.Status, f.Message)
	}
	return false
}

// ErrDetached is returned by the methods that act on a connection's
// transport (CutConnection, PauseOutbound, ResumeOutbound) when the
// connection is a detached reliable connection, which has none. Match it
// with errors.Is.
var ErrDetached = errors.New("emulator: the connection is detached")

// ErrNotReliable is returned by RefuseNextRecovery and AllowRecovery for
// a connection that does not use the reliable subprotocol, which cannot
// be recovered. Match it with errors.Is.
var ErrNotReliable = errors.New("emulator: the connection is not reliable; it cannot be recovered")

// withTransport calls f with the current transport of connection id of
// hub. It returns ErrConnectionNotFound or ErrDetached when there is none.
func (e *Emulator) withTransport(hub, id string, f func(*transport)) error {
	c, err := e.findConn(hub, id)
	if err != nil {
		return err
	}
	tr, ok := c.Endpoint().(*transport)
	if !ok {
		return ErrDetached
	}
	f(tr)
	return nil
}

// CutConnection breaks the network connection of connection id of hub
// (case-insensitive) the way a network failure does: the TCP connection
// is reset, with no close frame. A reliable connection is then detached
// and can be recovered within the retention; any other ends ("The
// connection ended unexpectedly."). The drop completes in the
// background; Wait for the connection to be detached or gone. When the
// emulator serves through Handler on a server of yours, the TCP
// connection is closed without a reset. It returns ErrConnectionNotFound
// or ErrDetached when there is nothing to cut.
func (e *Emulator) CutConnection(hub, id string) error {
	return e.withTransport(hub, id, (*transport).cut)
}

// PauseOutbound holds back everything the emulator would write to the
// current transport of connection id of hub: messages, acks, pongs and
// keep-alive Pings. What is held still counts against the outbound queue's limits, as for a client
// that does not read. ResumeOutbound lets it flow again; a recovery's new
// transport starts unpaused. When the connection is closed (by REST, an
// overflow, Close) the pause ends and the close procedure runs as usual.
// It returns ErrConnectionNotFound or ErrDetached.
func (e *Emulator) PauseOutbound(hub, id string) error {
	return e.setPaused(hub, id, true)
}

// ResumeOutbound undoes PauseOutbound: the held frames are written in
// order. It returns ErrConnectionNotFound or ErrDetached; resuming a
// transport that is not paused does nothing.
func (e *Emulator) ResumeOutbound(hub, id string) error {
	return e.setPaused(hub, id, false)
}

func (e *Emulator) setPaused(hub, id string, paused bool) error {
	return e.withTransport(hub, id, func(tr *transport) {
		tr.setPaused(paused)
		e.changes.Signal()
	})
}

// RefuseNextRecovery makes the next recovery request of the reliable
// connection id of hub fail as an unrecoverable one does: the upgrade is
// accepted and closed with 1008 ("The connection could not be
// recovered."), and the connection ends for good, as when its retention
// runs out. AllowRecovery cancels it. It returns ErrConnectionNotFound, or
// ErrNotReliable.
func (e *Emulator) RefuseNextRecovery(hub, id string) error {
	return e.setRefuseRecovery(hub, id, true)
}

// AllowRecovery cancels a RefuseNextRecovery of connection id of hub
// that no recovery has consumed yet. Its errors are RefuseNextRecovery's.
func (e *Emulator) AllowRecovery(hub, id string) error {
	return e.setRefuseRecovery(hub, id, false)
}

func (e *Emulator) setRefuseRecovery(hub, id string, refuse bool) error {
	c, err := e.findConn(hub, id)
	if err != nil {
		return err
	}
	if !c.Reliable {
		return ErrNotReliable
	}
	c.SetRefuseRecovery(refuse)
	return nil
}

// ackFault is one injected fault of a connection's acks.
type ackFault struct {
	drop          bool
	delay         time.Duration
	name, message string
}

// ackConn returns connection id of hub when it speaks a JSON subprotocol.
func (e *Emulator) ackConn(hub, id string) (*conn, error) {
	c, err := e.findConn(hub, id)
	if err != nil {
		return nil, err
	}
	if c.kind != kindPubSub {
		return nil, errors.New("emulator: the connection is a raw client; it has no acks")
	}
	return c, nil
}

func (e *Emulator) addAckFault(hub, id string, f ackFault) error {
	c, err := e.ackConn(hub, id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ackFaults = append(c.ackFaults, f)
	c.mu.Unlock()
	return nil
}

// DropNextAck makes the next request with an ackId (joinGroup,
// leaveGroup, sendToGroup, event) of connection id of hub run as usual
// but get no ack, as when the ack is lost with a dropped transport; its
// ack id is remembered, so a retry gets a Duplicate ack. Ack faults queue
// up per connection, one consumed per such request. It returns
// ErrConnectionNotFound, or an error for a raw client.
func (e *Emulator) DropNextAck(hub, id string) error {
	return e.addAckFault(hub, id, ackFault{drop: true})
}

// DelayNextAck makes the next request with an ackId of connection id of
// hub run as usual and get its ack d later on the emulator's clock (with
// a FakeClock, when the clock is advanced past d); other frames may
// overtake it. The ack goes to the connection's transport of that time
// and is lost if there is none. Its errors are DropNextAck's, and d must
// not be negative.
func (e *Emulator) DelayNextAck(hub, id string, d time.Duration) error {
	if d < 0 {
		return errors.New("emulator: the delay must not be negative")
	}
	return e.addAckFault(hub, id, ackFault{delay: d})
}

// FailNextAck makes the next request with an ackId of connection id of
// hub not run and get an error ack with name (such as
// "InternalServerError", "Forbidden" or "BadRequest") and message instead.
// Its errors are DropNextAck's, and name must not be empty.
func (e *Emulator) FailNextAck(hub, id, name, message string) error {
	if name == "" {
		return errors.New("emulator: the ack error name must not be empty")
	}
	return e.addAckFault(hub, id, ackFault{name: name, message: message})
}

// ErrStreamNotFound is returned by FailStream when the connection has no
// open stream with the id. Match it with errors.Is.
var ErrStreamNotFound = errors.New("emulator: stream not found")

// FailStream ends the open group stream streamID (case-sensitive) that
// connection connectionID of hub publishes, as the service ends a stream
// it fails to serve: the publisher gets a streamClosed with error
// InternalServerError ("Injected failure."), and the stream's group the
// terminal message (endOfStream, the next expected position) with that
// error, as when Close ends the streams still open. It is for testing a
// client's handling of a stream the service closes; the stream's id may
// then be opened again. It waits for the frame the connection is
// processing, if any. It returns ErrConnectionNotFound for an unknown hub
// or connection, ErrStreamNotFound when the connection has no open stream
// streamID.
func (e *Emulator) FailStream(hub, connectionID, streamID string) error {
	c, err := e.findConn(hub, connectionID)
	if err != nil {
		return fmt.Errorf("%w: hub %q has no connection %q", err, hub, connectionID)
	}
	c.proc.Lock()
	defer c.proc.Unlock()
	s := c.streams[streamID]
	if s == nil {
		return fmt.Errorf("%w: connection %q has no open stream %q", ErrStreamNotFound, connectionID, streamID)
	}
	c.closeStream(s, protocol.ErrorNameInternalServerError, "Injected failure.", true)
	return nil
}

// takeAckFault consumes c's next ack fault, or returns nil.
func (c *conn) takeAckFault() *ackFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ackFaults) == 0 {
		return nil
	}
	f := c.ackFaults[0]
	c.ackFaults = c.ackFaults[1:]
	return &f
}
