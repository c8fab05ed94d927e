package mongostub

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Commands: faults, the dispatch of each command, sessions and
// transactions (locks, commit, abort), hello.

// handle records cmd, applies faults and answers it. It reports whether the
// connection must be closed instead of answered.
func (s *Server) handle(cmd Command) (bson.Raw, bool) {
	s.mu.Lock()
	if !s.cfg.NoLog {
		s.cmds = append(s.cmds, cmd)
	}
	var fault *Fault
	lname := strings.ToLower(cmd.Name)
	for _, f := range s.faults {
		if f.Command == "" && monitorCommands[lname] {
			continue
		}
		if f.Command != "" && !strings.EqualFold(f.Command, cmd.Name) {
			continue
		}
		if f.Collection != "" && f.Collection != cmd.Collection() {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		f.fired++
		fault = f
		break
	}
	s.mu.Unlock()
	if fault != nil && fault.Delay > 0 {
		time.Sleep(fault.Delay)
	}
	if fault != nil && !fault.AfterApply {
		if r, closeConn, ok := faultReply(fault); ok {
			return r, closeConn
		}
	}
	s.mu.Lock()
	reply := s.run(cmd)
	s.mu.Unlock()
	if fault != nil && fault.AfterApply {
		if r, closeConn, ok := faultReply(fault); ok {
			return r, closeConn
		}
	}
	return reply, false
}

func faultReply(f *Fault) (bson.Raw, bool, bool) {
	switch {
	case f.Close:
		return nil, true, true
	case f.Code != 0:
		name := f.CodeName
		if name == "" {
			name = "Error" + strconv.Itoa(f.Code)
		}
		msg := f.Message
		if msg == "" {
			msg = "mongostub: injected " + name
		}
		return errorDoc(f.Code, name, msg, f.Labels), false, true
	case len(f.WriteErrors) > 0:
		d := bson.D{{Key: "n", Value: int32(0)}, {Key: "nModified", Value: int32(0)}, {Key: "writeErrors", Value: writeErrorsArray(f.WriteErrors)}}
		if len(f.Labels) > 0 {
			d = append(d, bson.E{Key: "errorLabels", Value: f.Labels})
		}
		d = append(d, bson.E{Key: "ok", Value: 1.0})
		return mustRaw(d), false, true
	}
	return nil, false, false
}

func writeErrorsArray(wes []WriteError) bson.A {
	a := make(bson.A, 0, len(wes))
	for _, we := range wes {
		msg := we.Message
		if msg == "" {
			msg = fmt.Sprintf("mongostub: write error %d", we.Code)
		}
		a = append(a, bson.D{{Key: "index", Value: int32(we.Index)}, {Key: "code", Value: int32(we.Code)}, {Key: "errmsg", Value: msg}})
	}
	return a
}

func txnKey(cmd Command) (string, bool) {
	lsid := cmd.LSID()
	n, ok := cmd.TxnNumber()
	if lsid == nil || !ok {
		return "", false
	}
	return string(lsid) + "/" + strconv.FormatInt(n, 10), true
}

// run answers cmd; s.mu is held.
func (s *Server) run(cmd Command) bson.Raw {
	switch strings.ToLower(cmd.Name) {
	case "hello", "ismaster":
		return s.hello(cmd)
	case "buildinfo":
		d := bson.D{{Key: "version", Value: "7.0.0"}, {Key: "versionArray", Value: bson.A{int32(7), int32(0), int32(0), int32(0)}},
			{Key: "maxBsonObjectSize", Value: int32(16 * 1024 * 1024)}}
		if s.cfg.FerretDB {
			d = append(d, bson.E{Key: "ferretdbVersion", Value: "v1.24.2"})
		}
		return mustRaw(append(d, bson.E{Key: "ok", Value: 1.0}))
	case "endsessions":
		// Ending a session aborts its open transaction.
		if arr, ok := cmd.Body.Lookup("endSessions").ArrayOK(); ok {
			vals, _ := arr.Values()
			for _, v := range vals {
				if d, ok := v.DocumentOK(); ok {
					if _, id, ok := d.Lookup("id").BinaryOK(); ok {
						s.abortSession(string(id))
					}
				}
			}
		}
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	case "ping":
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	case "killcursors":
		return s.killCursors(cmd)
	case "getmore":
		return s.getMore(cmd)
	case "committransaction":
		return s.endTxn(cmd, true)
	case "aborttransaction":
		return s.endTxn(cmd, false)
	}
	// Everything else may run inside a transaction.
	data := colls(s.data.coll)
	var t *txn
	inTxn := false
	if auto, ok := cmd.Body.Lookup("autocommit").BooleanOK(); ok && !auto {
		key, ok := txnKey(cmd)
		if !ok {
			return errorDoc(50768, "NotARetryableWriteCommand", "autocommit:false without lsid and txnNumber", nil)
		}
		inTxn = true
		if start, _ := cmd.Body.Lookup("startTransaction").BooleanOK(); start {
			// A new transaction on a session aborts the one before.
			s.abortSession(string(cmd.LSID()))
			t = &txn{view: store{}, lsid: string(cmd.LSID()), started: time.Now(), locks: map[string]bool{}}
			s.txns[key] = t
		} else {
			t = s.txns[key]
		}
		if t == nil || t.aborted {
			return errorDoc(251, "NoSuchTransaction", "mongostub: transaction "+key+" is not open", []string{"TransientTransactionError"})
		}
		data = t.over(s.data)
	}
	switch strings.ToLower(cmd.Name) {
	case "insert", "update", "delete":
		// A retryable write (lsid and txnNumber outside a transaction) runs
		// once; its retry gets the first answer, as on MongoDB.
		n, retryable := cmd.TxnNumber()
		lsid := string(cmd.LSID())
		retryable = retryable && lsid != "" && !inTxn
		if retryable {
			if r, ok := s.retried[lsid]; ok && r.txnNumber == n {
				return r.reply
			}
		}
		if t != nil {
			if r := s.lock(t, cmd); r != nil {
				return r
			}
		}
		reply, failed := s.write(data, cmd, inTxn)
		if retryable {
			s.retried[lsid] = retry{txnNumber: n, reply: reply}
		}
		if t != nil {
			if failed {
				// A write error aborts a transaction on the server.
				t.aborted = true
			} else {
				t.writes = append(t.writes, cmd)
			}
		}
		return reply
	case "find":
		if f, _ := cmd.Body.Lookup("filter").DocumentOK(); scanFilter(f) {
			return s.findScan(data, cmd, f)
		}
		return s.find(data, cmd)
	case "aggregate":
		return s.aggregate(data, cmd)
	case "listindexes", "createindexes":
		return s.indexCommand(cmd)
	case "listcollections":
		return s.listCollections(cmd)
	case "create", "collmod":
		return s.createOrMod(cmd)
	case "drop":
		if cs := s.data[cmd.DB]; cs != nil {
			delete(cs, cmd.Collection())
		}
		delete(s.colls, cmd.DB+"."+cmd.Collection())
		delete(s.indexes, cmd.DB+"."+cmd.Collection())
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	case "dropdatabase":
		delete(s.data, cmd.DB)
		for ns := range s.indexes {
			if strings.HasPrefix(ns, cmd.DB+".") {
				delete(s.indexes, ns)
			}
		}
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	}
	return errorDoc(59, "CommandNotFound", "mongostub: no such command: '"+cmd.Name+"'", nil)
}

// abortSession aborts the open transactions of a session; s.mu is held.
func (s *Server) abortSession(lsid string) {
	for key, t := range s.txns {
		if t.lsid == lsid {
			delete(s.txns, key)
		}
	}
}

// lock takes the documents a write in t names; when another open
// transaction holds one, t is aborted and the answer is MongoDB's
// WriteConflict, a TransientTransactionError. s.mu is held.
func (s *Server) lock(t *txn, cmd Command) bson.Raw {
	var keys []string
	prefix := cmd.DB + "\x00" + cmd.Collection() + "\x00"
	switch strings.ToLower(cmd.Name) {
	case "insert":
		for _, d := range cmd.Docs("documents") {
			keys = append(keys, prefix+idKey(d.Lookup("_id")))
		}
	case "update", "delete":
		ident := map[string]string{"update": "updates", "delete": "deletes"}[strings.ToLower(cmd.Name)]
		for _, st := range cmd.Docs(ident) {
			q, _ := st.Lookup("q").DocumentOK()
			if want, all, err := ids(q); err == nil && !all {
				for _, id := range want {
					keys = append(keys, prefix+idKey(id))
				}
			}
		}
	}
	for _, other := range s.txns {
		if other == t || !other.open(s.cfg.TxnLifetime) {
			continue
		}
		for _, k := range keys {
			if other.locks[k] {
				t.aborted = true
				s.conflicts++
				return errorDoc(112, "WriteConflict", "mongostub: WriteConflict: the document is written by another open transaction",
					[]string{"TransientTransactionError"})
			}
		}
	}
	for _, k := range keys {
		t.locks[k] = true
	}
	return nil
}

func (s *Server) hello(cmd Command) bson.Raw {
	d := bson.D{{Key: "helloOk", Value: true}}
	if strings.EqualFold(cmd.Name, "hello") {
		d = append(d, bson.E{Key: "isWritablePrimary", Value: true})
	} else {
		d = append(d, bson.E{Key: "ismaster", Value: true})
	}
	if s.cfg.SetName != "" {
		hosts := bson.A{}
		for _, h := range s.cfg.Hosts {
			hosts = append(hosts, h)
		}
		d = append(d, bson.E{Key: "setName", Value: s.cfg.SetName}, bson.E{Key: "setVersion", Value: int32(1)},
			bson.E{Key: "hosts", Value: hosts}, bson.E{Key: "primary", Value: s.addr}, bson.E{Key: "me", Value: s.addr},
			bson.E{Key: "secondary", Value: false},
			bson.E{Key: "electionId", Value: bson.ObjectID{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1}})
	}
	if s.cfg.Mongos {
		d = append(d, bson.E{Key: "msg", Value: "isdbgrid"})
	}
	d = append(d,
		bson.E{Key: "maxBsonObjectSize", Value: int32(16 * 1024 * 1024)},
		bson.E{Key: "maxMessageSizeBytes", Value: int32(maxMessage)},
		bson.E{Key: "maxWriteBatchSize", Value: int32(100000)},
		bson.E{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())})
	if s.cfg.SessionTimeoutMinutes > 0 {
		d = append(d, bson.E{Key: "logicalSessionTimeoutMinutes", Value: int32(s.cfg.SessionTimeoutMinutes)})
	}
	d = append(d, bson.E{Key: "connectionId", Value: int32(cmd.Conn)},
		bson.E{Key: "minWireVersion", Value: int32(0)}, bson.E{Key: "maxWireVersion", Value: int32(s.cfg.MaxWireVersion)},
		bson.E{Key: "readOnly", Value: false}, bson.E{Key: "ok", Value: 1.0})
	return mustRaw(d)
}

func (s *Server) endTxn(cmd Command, commit bool) bson.Raw {
	key, ok := txnKey(cmd)
	if !ok {
		return errorDoc(50768, "NotARetryableWriteCommand", "mongostub: no lsid or txnNumber", nil)
	}
	t := s.txns[key]
	n, _ := cmd.TxnNumber()
	if t == nil {
		if last, ok := s.committed[string(cmd.LSID())]; commit && ok && last == n {
			return mustRaw(bson.D{{Key: "ok", Value: 1.0}}) // a retried commit: already done
		}
		return errorDoc(251, "NoSuchTransaction", "mongostub: transaction "+key+" is not open", []string{"TransientTransactionError"})
	}
	delete(s.txns, key)
	if t.aborted {
		return errorDoc(251, "NoSuchTransaction", "mongostub: transaction "+key+" was aborted", []string{"TransientTransactionError"})
	}
	if commit {
		for _, w := range t.writes {
			s.write(s.data.coll, w, false)
		}
		s.committed[string(cmd.LSID())] = n
	}
	return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
}
