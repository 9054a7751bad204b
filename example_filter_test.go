package webpubsub_test

import (
	"fmt"
	"log"

	"github.com/gowebpubsub/webpubsub"
)

func ExampleFormatFilter() {
	filter, err := webpubsub.FormatFilter("userId in ({}) and {} in groups", []string{"alice", "o'brien"}, "room1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filter)
	// Output: userId in ('alice','o''brien') and 'room1' in groups
}

func ExampleFilterValue() {
	for _, v := range []any{"vic's", nil, true, 42} {
		s, _ := webpubsub.FilterValue(v)
		fmt.Println(s)
	}
	_, err := webpubsub.FilterValue(1.5)
	fmt.Println(err)
	// Output:
	// 'vic''s'
	// null
	// true
	// 42
	// invalid filter value: type float64 has no OData literal; use a string, an integer, a bool or nil
}

func ExampleFilterIn() {
	some, _ := webpubsub.FilterIn("userId", []string{"alice", "bob"})
	none, _ := webpubsub.FilterIn("userId", []string{})
	fmt.Println(some)
	fmt.Println(none)
	// Output:
	// userId in ('alice','bob')
	// false
}

func ExampleValidateFilter() {
	fmt.Println(webpubsub.ValidateFilter("userId eq 'alice' and not ('banned' in groups)"))
	fmt.Println(webpubsub.ValidateFilter("not length(userId) gt 5") != nil)
	// Output:
	// <nil>
	// true
}

func ExampleParseConnectionString() {
	cs, err := webpubsub.ParseConnectionString("Endpoint=HTTPS://Host.Example.COM/a/b/;Port=8443;AccessKey=secret-key;Version=1.0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cs.Endpoint)
	fmt.Println(cs) // the key is redacted
	_, err = webpubsub.ParseConnectionString("Endpoint=https://h;secret-key")
	fmt.Println(err)
	// Output:
	// https://Host.Example.COM:8443/a/b
	// Endpoint=https://Host.Example.COM:8443/a/b;AccessKey=REDACTED;Version=1.0;
	// invalid connection string: segment 2 is not of the form Key=Value; expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port (1..65535), Version (1.0) and ClientEndpoint
}
