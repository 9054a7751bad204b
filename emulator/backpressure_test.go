package emulator

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestRepliesApplyBackPressure: a client that sends more acked requests
// than its outbound queue holds, while its replies cannot be written yet,
// is slowed down, not closed: the emulator stops reading until the
// writer drains the queue, and every request gets its ack, in order.
func TestRepliesApplyBackPressure(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pubsub(jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}})
	if err := te.PauseOutbound("chat", c.id); err != nil {
		t.Fatal(err)
	}
	const n = 3 * maxQueueMessages / 2
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// The writes finish once the emulator reads again; the socket buffers
	// hold what it does not read meanwhile.
	wrote := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			f := fmt.Sprintf(`{"type":"joinGroup","group":"g%d","ackId":%d}`, i%7, i)
			if err := c.ws.Write(ctx, 1, []byte(f)); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	// The queue fills with the replies to the first requests; the rest
	// wait unread.
	if err := te.Wait(ctx, func() bool {
		info, err := te.Connection("chat", c.id)
		return err == nil && info.Queued >= maxQueueMessages
	}); err != nil {
		t.Fatalf("the queue did not fill: %v", err)
	}
	if err := te.ResumeOutbound("chat", c.id); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		f := c.ReadJSON()
		if f["type"] != "ack" || f["ackId"] != float64(i) || f["success"] != true {
			t.Fatalf("reply %d = %v; want a successful ack %d", i, f, i)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write: %v", err)
	}
	c.Barrier()
	info, err := te.Connection("chat", c.id)
	if err != nil {
		t.Fatalf("the connection ended: %v", err)
	}
	if strings.Join(info.Groups, ",") != "g0,g1,g2,g3,g4,g5,g6" {
		t.Errorf("groups %v", info.Groups)
	}
}
