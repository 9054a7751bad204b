package webpubsub_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gowebpubsub/webpubsub"
)

// notifier is the part of Web PubSub that the order service below uses. The
// application declares it, with only the methods it calls: production code
// passes a *webpubsub.ServiceClient, tests pass a fake.
type notifier interface {
	SendToUser(ctx context.Context, userID string, msg webpubsub.Message, options *webpubsub.SendToUserOptions) (webpubsub.SendToUserResponse, error)
}

// The compiler checks that the real client satisfies the interface.
var _ notifier = (*webpubsub.ServiceClient)(nil)

// orderService is application code: it tells a user that an order shipped.
type orderService struct {
	notify notifier
}

func (s *orderService) ship(ctx context.Context, orderID, userID string) error {
	update := map[string]string{"order": orderID, "status": "shipped"}
	if _, err := s.notify.SendToUser(ctx, userID, webpubsub.JSONMessage(update), nil); err != nil {
		return fmt.Errorf("order %s shipped, but notifying %s failed: %w", orderID, userID, err)
	}
	return nil
}

// fakeNotifier records what would have been sent, or fails with err.
type fakeNotifier struct {
	sent []string
	err  error
}

func (f *fakeNotifier) SendToUser(_ context.Context, userID string, msg webpubsub.Message, _ *webpubsub.SendToUserOptions) (webpubsub.SendToUserResponse, error) {
	if f.err != nil {
		return webpubsub.SendToUserResponse{}, f.err
	}
	f.sent = append(f.sent, fmt.Sprintf("to %s (%s): %s", userID, msg.ContentType(), msg.Bytes()))
	return webpubsub.SendToUserResponse{}, nil
}

// Unit tests of code that uses a ServiceClient need no service: the code
// depends on a small interface of its own, which a fake implements.
func Example_unitTesting() {
	// In production: &orderService{notify: client}, with client from
	// webpubsub.NewServiceClientFromConnectionString. In a test:
	fake := &fakeNotifier{}
	svc := &orderService{notify: fake}
	ctx := context.Background()

	if err := svc.ship(ctx, "A-1001", "alice"); err != nil {
		fmt.Println("unexpected error:", err)
	}
	fmt.Println(fake.sent[0])

	// The fake fails as the service can, to test the error path.
	fake.err = errors.New("service unavailable")
	fmt.Println(svc.ship(ctx, "A-1002", "bob"))
	// Output:
	// to alice (application/json): {"order":"A-1001","status":"shipped"}
	// order A-1002 shipped, but notifying bob failed: service unavailable
}
