// Package pb holds the generated Go types of the wire schema of the Web
// PubSub protobuf subprotocols (protobuf.webpubsub.azure.v1 and
// protobuf.reliable.webpubsub.azure.v1): one [UpstreamMessage] per binary
// frame from a client, one [DownstreamMessage] per binary frame from the
// service. The schema is webpubsub.proto beside this file; the Go code is
// regenerated with go generate and must not be edited by hand.
package pb

//go:generate protoc --go_out=. --go_opt=paths=source_relative webpubsub.proto
