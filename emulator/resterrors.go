package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// supportedVersions is the api-supported-versions header the service
// sends.
const supportedVersions = "2021-10-01, 2022-11-01, 2023-07-01, 2024-01-01, 2024-12-01"

// Error codes.
const (
	codeBadRequest             = "Error.BadRequest"
	codeConnectionNotExisted   = "Error.Connection.NotExisted"
	codeInfoConnectionNotExist = "Info.Connection.NotExisted"
	codeWarnConnectionNotExist = "Warning.Connection.NotExisted"
	codeWarnUserNotExist       = "Warning.User.NotExisted"
	codeWarnGroupNotExist      = "Warning.Group.NotExisted"
	codeUnsupportedMediaType   = "Error.UnsupportedMediaType"
	codePayloadTooLarge        = "Error.PayloadTooLarge"
)

// azureError is the service's error body for 404, 413 and 415, in the
// field order it was recorded with.
type azureError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Target     string `json:"target"`
	Details    any    `json:"details"`
	InnerError any    `json:"innererror"`
}

// problem is ASP.NET's ValidationProblemDetails, as the service returns for
// 400.
type problem struct {
	Code       string              `json:"code"`
	Message    string              `json:"message"`
	Target     string              `json:"target"`
	Errors     map[string][]string `json:"errors"`
	Type       any                 `json:"type"`
	Title      string              `json:"title"`
	Status     int                 `json:"status"`
	Detail     any                 `json:"detail"`
	Instance   any                 `json:"instance"`
	Extensions struct{}            `json:"extensions"`
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the values are plain structs of strings
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeAzureError writes a JSON error with x-ms-error-code. On HEAD the body
// is not transmitted.
func writeAzureError(w http.ResponseWriter, status int, code, message, target string) {
	w.Header().Set("x-ms-error-code", code)
	writeJSON(w, status, "application/json; charset=utf-8", azureError{Code: code, Message: message, Target: target})
}

// writeHeadNotFound answers a HEAD check with 404, no body and, when code
// is not empty, x-ms-error-code.
func writeHeadNotFound(w http.ResponseWriter, code string) {
	if code != "" {
		w.Header().Set("x-ms-error-code", code)
	}
	w.WriteHeader(http.StatusNotFound)
}

// writeValidation writes the 400 problem+json of a failed parameter check;
// the message gets the " (Parameter '<target>')" suffix the service adds.
func writeValidation(w http.ResponseWriter, target, message string) {
	w.Header().Del("api-supported-versions")
	w.Header().Set("x-ms-error-code", codeBadRequest)
	msg := message + " (Parameter '" + target + "')"
	writeJSON(w, http.StatusBadRequest, "application/problem+json; charset=utf-8", problem{
		Code:    codeBadRequest,
		Message: msg,
		Target:  target,
		Errors:  map[string][]string{target: {msg}},
		Title:   "One or more validation errors occurred.",
		Status:  http.StatusBadRequest,
	})
}

// writeEmpty writes a body-less success with Content-Length: 0.
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
