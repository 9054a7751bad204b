package emulator

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"
)

// An idle WebSocket connection costs mostly its buffers: net/http hands a
// hijacked connection a 4 KiB read buffer and a fresh 4 KiB write buffer,
// which the WebSocket library keeps for the connection's life.
// smallBuffers gives it small ones instead. Reads lose little: a payload
// larger than the read buffer is read straight into the caller's memory.
// Writes lose nothing: frameWriter sends each frame, header and payload,
// with one system call, as the 4 KiB buffer did for frames that fit in it
// (and better for larger ones), joining the pieces in a buffer shared by
// all connections or sending them with one vectored write.
const (
	// readBufferSize is the read buffer of an accepted WebSocket: room
	// for a frame header and a small frame.
	readBufferSize = 512
	// writeBufferSize is the write buffer of an accepted WebSocket: room
	// for the longest frame header (10 bytes, unmasked) and a little.
	writeBufferSize = 16
)

// smallBuffers wraps w so that a WebSocket accepted on it gets the small
// buffers described above. A w that cannot be hijacked is returned as it
// is (the WebSocket library then refuses it as before).
func smallBuffers(w http.ResponseWriter) http.ResponseWriter {
	if _, ok := w.(http.Hijacker); !ok {
		return w
	}
	return smallBufferWriter{w}
}

// smallBufferWriter is an http.ResponseWriter whose Hijack returns small
// buffers.
type smallBufferWriter struct {
	http.ResponseWriter
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w smallBufferWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the wrapped writer and replaces its buffers. Bytes the
// client sent after its handshake that net/http has already read stay
// first in the new read buffer; the response net/http has written is on
// the wire already (it flushes before a hijack), and anything still in its
// write buffer is flushed.
func (w smallBufferWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	var br *bufio.Reader
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		early = bytes.Clone(early)
		// The new reader holds the early bytes in its buffer, where the
		// WebSocket library looks for them, and reads the connection
		// after them.
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(early), conn), max(readBufferSize, n))
		if _, err := br.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	} else {
		br = bufio.NewReaderSize(conn, readBufferSize)
	}
	// The write buffer and its frameWriter are one allocation, which a
	// write touches as one.
	w2 := &bufferedFrameWriter{fw: frameWriter{conn: conn}}
	w2.bw = *bufio.NewWriterSize(&w2.fw, writeBufferSize)
	return conn, bufio.NewReadWriter(br, &w2.bw), nil
}

// bufferedFrameWriter is a WebSocket's write buffer with the frameWriter
// it flushes to.
type bufferedFrameWriter struct {
	bw bufio.Writer
	fw frameWriter
}

// frameWriter writes to conn what a WebSocket library's small write
// buffer flushes, joining the pieces of one frame into one system call.
// With a buffer smaller than a frame, the library's buffer flushes a
// frame in two writes: the header with the start of the payload, then the
// rest of the payload. frameWriter holds a first piece that it can tell
// (from the header) is not the whole frame, and writes it together with
// the next one. A held piece never waits for anything but the next write
// of the same frame. It is used by one writer at a time, as the library's
// buffer is.
type frameWriter struct {
	conn net.Conn
	// held is a first piece of a frame, waiting for the next write.
	held  [writeBufferSize]byte
	nheld int
	// rest is how many bytes of the current frame are still to come; a
	// write that starts when it is 0 starts a frame.
	rest int64
	// bufs backs the vectored write.
	bufs [2][]byte
	nb   net.Buffers
}

// Write writes p, or holds it as described on frameWriter.
func (w *frameWriter) Write(p []byte) (int, error) {
	starts := w.rest == 0
	w.advance(p)
	if w.nheld == 0 {
		if starts && w.rest > 0 && len(p) <= len(w.held) {
			w.nheld = copy(w.held[:], p)
			return len(p), nil
		}
		return w.conn.Write(p)
	}
	var err error
	if n := w.nheld + len(p); n <= joinBufferSize {
		// A small frame is copied into one buffer: one write costs less
		// than a vectored write of two pieces.
		buf := joinBuffers.Get().(*[joinBufferSize]byte)
		copy(buf[copy(buf[:], w.held[:w.nheld]):], p)
		_, err = w.conn.Write(buf[:n])
		joinBuffers.Put(buf)
	} else {
		w.bufs = [2][]byte{w.held[:w.nheld], p}
		w.nb = w.bufs[:]
		_, err = w.nb.WriteTo(w.conn)
		w.bufs = [2][]byte{}
	}
	w.nheld = 0
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// joinBufferSize is the largest frame frameWriter joins by copying; a
// larger one goes out in one vectored write.
const joinBufferSize = 4096

// joinBuffers are the buffers of the frames frameWriter joins, shared by
// every connection, so that an idle one holds none.
var joinBuffers = sync.Pool{New: func() any { return new([joinBufferSize]byte) }}

// advance moves the position in the stream of frames over p. A header cut
// between two writes loses the boundaries: rest becomes -1 and nothing is
// held from then on, which costs system calls but never correctness.
func (w *frameWriter) advance(p []byte) {
	for len(p) > 0 && w.rest >= 0 {
		if w.rest == 0 {
			size, ok := frameSize(p)
			if !ok {
				w.rest = -1
				return
			}
			w.rest = size
		}
		k := min(w.rest, int64(len(p)))
		w.rest -= k
		p = p[k:]
	}
}

// frameSize returns the size of the whole frame whose header p starts
// with (header and payload); false when p is shorter than the header or
// the length is not one a frame can have.
func frameSize(p []byte) (int64, bool) {
	if len(p) < 2 {
		return 0, false
	}
	n := int64(p[1] & 0x7f)
	header := int64(2)
	switch n {
	case 126:
		if len(p) < 4 {
			return 0, false
		}
		n, header = int64(binary.BigEndian.Uint16(p[2:4])), 4
	case 127:
		if len(p) < 10 {
			return 0, false
		}
		l := binary.BigEndian.Uint64(p[2:10])
		if l > 1<<62 {
			return 0, false
		}
		n, header = int64(l), 10
	}
	if p[1]&0x80 != 0 {
		header += 4 // masking key
	}
	return header + n, true
}
