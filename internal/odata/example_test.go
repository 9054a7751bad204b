package odata_test

import (
	"errors"
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/odata"
)

func Example() {
	f, err := odata.Parse("userId in ('user1', 'user2') and 'group1' in groups")
	if err != nil {
		panic(err)
	}
	uid := "user1"
	fmt.Println(f.Match(odata.Connection{ConnectionID: "c1", UserID: &uid, Groups: []string{"group1"}}))
	fmt.Println(f.Match(odata.Connection{ConnectionID: "c2", Groups: []string{"group1"}})) // anonymous
	// Output:
	// true
	// false
}

func ExampleParse_error() {
	_, err := odata.Parse("not length(userId) gt 5")
	var e *odata.Error
	if errors.As(err, &e) {
		fmt.Println(e.Category, e.Pos)
		fmt.Println(e)
	}
	// Output:
	// type 4
	// Invalid syntax for 'not length(userId)': Type 'int', expect 'bool'.
}
