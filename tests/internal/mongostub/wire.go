package mongostub

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The wire protocol: connections, OP_MSG and OP_QUERY framing, replies.

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.nextConn++
		id := s.nextConn
		s.conns[c] = id
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c, id)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Wire protocol op codes.
const (
	opReply = 1
	opQuery = 2004
	opMsg   = 2013
)

const maxMessage = 48_000_000

func (s *Server) serveConn(c net.Conn, conn int64) {
	r := bufio.NewReader(c)
	var reqID int32
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		reqID++
		if !s.serveMessage(c, r, conn, hdr, reqID) {
			return
		}
	}
}

// serveMessage reads the body of the message hdr starts, runs it and writes
// its answer; false drops the connection.
func (s *Server) serveMessage(c net.Conn, r *bufio.Reader, conn int64, hdr [16]byte, reqID int32) bool {
	size := int32(binary.LittleEndian.Uint32(hdr[0:]))
	requestID := int32(binary.LittleEndian.Uint32(hdr[4:]))
	opCode := int32(binary.LittleEndian.Uint32(hdr[12:]))
	if size < 16 || size > maxMessage {
		return false
	}
	body := make([]byte, size-16)
	if _, err := io.ReadFull(r, body); err != nil {
		return false
	}
	var cmd Command
	var err error
	var moreToCome bool
	switch opCode {
	case opMsg:
		cmd, moreToCome, err = parseMsg(body)
	case opQuery:
		cmd, err = parseQuery(body)
	default:
		err = fmt.Errorf("op code %d not supported", opCode)
	}
	if err != nil {
		return false // a protocol error: drop the connection, as mongod does
	}
	cmd.Conn = conn
	reply, closeConn := s.handle(cmd)
	if closeConn {
		return false
	}
	if moreToCome {
		return true
	}
	var out []byte
	if opCode == opQuery {
		out = replyMessage(reqID, requestID, reply)
	} else {
		out = msgMessage(reqID, requestID, reply)
	}
	_, err = c.Write(out)
	return err == nil
}

func parseMsg(b []byte) (Command, bool, error) {
	if len(b) < 5 {
		return Command{}, false, errors.New("short OP_MSG")
	}
	flags := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if flags&1 != 0 { // checksumPresent
		if len(b) < 4 {
			return Command{}, false, errors.New("short OP_MSG checksum")
		}
		b = b[:len(b)-4]
	}
	var cmd Command
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		switch kind {
		case 0:
			doc, rest, err := readDoc(b)
			if err != nil {
				return Command{}, false, err
			}
			cmd.Body, b = doc, rest
		case 1:
			if len(b) < 4 {
				return Command{}, false, errors.New("short document sequence")
			}
			n := int(binary.LittleEndian.Uint32(b))
			if n < 4 || n > len(b) {
				return Command{}, false, errors.New("bad document sequence size")
			}
			seq := b[4:n]
			b = b[n:]
			i := indexByte(seq, 0)
			if i < 0 {
				return Command{}, false, errors.New("bad sequence identifier")
			}
			ident := string(seq[:i])
			seq = seq[i+1:]
			if cmd.Sequences == nil {
				cmd.Sequences = map[string][]bson.Raw{}
			}
			for len(seq) > 0 {
				doc, rest, err := readDoc(seq)
				if err != nil {
					return Command{}, false, err
				}
				cmd.Sequences[ident] = append(cmd.Sequences[ident], doc)
				seq = rest
			}
		default:
			return Command{}, false, fmt.Errorf("section kind %d", kind)
		}
	}
	if cmd.Body == nil {
		return Command{}, false, errors.New("OP_MSG without a body")
	}
	cmd.Name = cmd.Body.Index(0).Key()
	cmd.DB, _ = cmd.Body.Lookup("$db").StringValueOK()
	return cmd, flags&2 != 0, nil
}

func parseQuery(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, errors.New("short OP_QUERY")
	}
	b = b[4:]
	i := indexByte(b, 0)
	if i < 0 {
		return Command{}, errors.New("bad collection name")
	}
	ns := string(b[:i])
	b = b[i+1:]
	if len(b) < 8 {
		return Command{}, errors.New("short OP_QUERY")
	}
	doc, _, err := readDoc(b[8:])
	if err != nil {
		return Command{}, err
	}
	db, _, _ := strings.Cut(ns, ".")
	return Command{Name: doc.Index(0).Key(), DB: db, Body: doc}, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func readDoc(b []byte) (bson.Raw, []byte, error) {
	if len(b) < 5 {
		return nil, nil, errors.New("short document")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 5 || n > len(b) {
		return nil, nil, errors.New("bad document size")
	}
	doc := bson.Raw(b[:n])
	if err := doc.Validate(); err != nil {
		return nil, nil, err
	}
	return doc, b[n:], nil
}

func header(dst []byte, reqID, responseTo, opCode int32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, 0) // size, filled in later
	dst = binary.LittleEndian.AppendUint32(dst, uint32(reqID))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(responseTo))
	return binary.LittleEndian.AppendUint32(dst, uint32(opCode))
}

func msgMessage(reqID, responseTo int32, doc bson.Raw) []byte {
	b := header(make([]byte, 0, 16+5+len(doc)), reqID, responseTo, opMsg)
	b = binary.LittleEndian.AppendUint32(b, 0) // flags
	b = append(b, 0)                           // section kind 0
	b = append(b, doc...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func replyMessage(reqID, responseTo int32, doc bson.Raw) []byte {
	b := header(make([]byte, 0, 36+len(doc)), reqID, responseTo, opReply)
	b = binary.LittleEndian.AppendUint32(b, 0) // responseFlags
	b = binary.LittleEndian.AppendUint64(b, 0) // cursorID
	b = binary.LittleEndian.AppendUint32(b, 0) // startingFrom
	b = binary.LittleEndian.AppendUint32(b, 1) // numberReturned
	b = append(b, doc...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func mustRaw(d bson.D) bson.Raw {
	b, err := bson.Marshal(d)
	if err != nil {
		panic(err) // only values built here
	}
	return b
}

func errorDoc(code int, codeName, msg string, labels []string) bson.Raw {
	d := bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: msg}, {Key: "code", Value: int32(code)}, {Key: "codeName", Value: codeName}}
	if len(labels) > 0 {
		d = append(d, bson.E{Key: "errorLabels", Value: labels})
	}
	return mustRaw(d)
}
