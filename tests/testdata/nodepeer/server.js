// The peer of syncgate's gateway benchmark (BenchmarkGateway's /node runs):
// the write path of PowerSync's Node.js backend demo
// (powersync-ja/powersync-nodejs-backend-todolist-demo) as that demo has it,
// rebuilt here: Express with the JSON body parser, POST /api/data with
// {"batch":[…]}, and for each op in order one awaited round trip of the
// official mongodb driver (PUT: insertOne, PATCH: updateOne with $set,
// DELETE: deleteOne), PUT and PATCH data parsed by a zod schema first.
// No authentication, as the demo's data route has none.
//
// Environment: MONGO_URI (the database is the URI's path, e.g.
// mongodb://127.0.0.1:27017/gw_node), PORT (0: any free port). It listens on
// 127.0.0.1 only and prints "listening 127.0.0.1:<port>" on stdout once the
// database is connected. With EXIT_ON_STDIN_EOF=1 it exits when its stdin
// closes, so a benchmark that dies cannot leave it running.

import express from 'express';
import { MongoClient } from 'mongodb';
import * as z from 'zod';

const uri = process.env.MONGO_URI ?? '';
const port = Number(process.env.PORT ?? '0');

// This is a measuring instrument for one machine: it talks to nothing but
// the loopback address.
const loopback = /^mongodb:\/\/(127\.0\.0\.1|localhost)(:\d+)?(\/|$)/;
if (!loopback.test(uri)) {
  console.error(`nodepeer: MONGO_URI must be mongodb://127.0.0.1:<port>/<database>, not ${JSON.stringify(uri)}`);
  process.exit(2);
}

// Rows arrive as the client's SQLite columns: booleans as integers 0/1,
// timestamps as text. Parsing turns them into BSON booleans and dates.
const intFlag = z
  .int()
  .nullish()
  .transform((n) => n === 1);
const textDate = z.string().transform((s) => new Date(s));
const createdAt = textDate.nullish().transform((d) => d ?? new Date());

// One schema per table of the benchmark (tests/gateway_bench_test.go,
// gwClient.row): the lists and todos of PowerSync's to-do list demos.
const tables = {
  lists: z.object({
    _id: z.string(),
    created_at: createdAt,
    name: z.string(),
    owner_id: z.string(),
    archived: intFlag
  }),
  todos: z.object({
    _id: z.string(),
    created_at: createdAt,
    description: z.string(),
    completed: intFlag,
    completed_at: textDate.nullish(),
    created_by: z.string(),
    completed_by: z.string().nullish(),
    list_id: z.string(),
    archived: intFlag
  })
};

const client = new MongoClient(uri);
await client.connect();
const db = client.db();

// apply writes a batch's ops one at a time, each awaited before the next.
async function apply(batch) {
  for (const entry of batch) {
    const schema = tables[entry.table];
    if (!schema) {
      console.warn(`nodepeer: skipping an op on unknown table ${entry.table}`);
      continue;
    }
    const collection = db.collection(entry.table);
    const id = entry.id ?? entry.data?.id;
    switch (entry.op) {
      case 'PUT': {
        const { id: _, ...fields } = entry.data;
        await collection.insertOne(schema.parse({ _id: id, ...fields }));
        break;
      }
      case 'PATCH': {
        const { id: _, ...fields } = entry.data;
        // A PATCH carries only the changed columns: the demo parses them
        // with the table schema's partial(), made for each op.
        await collection.updateOne({ _id: id }, { $set: schema.partial().parse(fields) });
        break;
      }
      case 'DELETE':
        if (id != null) {
          await collection.deleteOne({ _id: id });
        }
        break;
    }
  }
}

const app = express();
app.use(express.json());

app.post('/api/data', async (req, res) => {
  if (!req.body || !Array.isArray(req.body.batch)) {
    res.status(400).send({ message: 'expected a body of {"batch":[…]}' });
    return;
  }
  try {
    await apply(req.body.batch);
    res.status(200).send({ message: 'batch applied' });
  } catch (err) {
    res.status(400).send({ message: `batch failed: ${err.message}` });
  }
});

const server = app.listen(port, '127.0.0.1', () => {
  const bound = server.address();
  console.log(`listening ${bound.address}:${bound.port}`);
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  // Closing the driver waits for the database, which may be gone already.
  setTimeout(() => process.exit(0), 2000).unref();
  server.close();
  server.closeAllConnections?.();
  await client.close().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.env.EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
