// A PowerSync Node.js app, offline, that writes the todo demo's lists and todos (two with a photo)
// and then drains its CRUD queue through the example's SyncgateConnector and its attachment queue
// through the example's SyncgateStorageAdapter into the syncgate at SYNCGATE_URL. There is no
// PowerSync service here, so the database is never connected: the CRUD queue is drained by calling
// the connector's uploadData as the SDK does, and the attachment queue uploads by itself (it does
// not need a connection) once startSync has run.
//
// Input (environment): SYNCGATE_URL, SYNCGATE_USER (the user id for /token, TOKEN_AUTH=dev),
// WORK_DIR (an empty folder for the SQLite file and the local attachment files), PHOTO (a JPEG
// file to attach) and REFUSED_PHOTO (a file syncgate refuses, e.g. text: 415).
// Output: one line `RESULT {json}` on stdout (ids and what the connector reported), exit 0; any
// failure exits 1 with the reason on stderr.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AttachmentState,
  AttachmentTable,
  column,
  NodeFileSystemAdapter,
  PowerSyncDatabase,
  Schema,
  Table,
} from '@powersync/node';
import { SyncgateConnector } from './SyncgateConnector.js';
import { SyncgateStorageAdapter, todoPhotoQueue } from './SyncgateStorageAdapter.js';

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`nodeclient: ${name} is not set`);
  }
  return v;
}

const url = env('SYNCGATE_URL');
const user = env('SYNCGATE_USER');
const workDir = env('WORK_DIR');
const photo = readFileSync(env('PHOTO'));
const refusedPhoto = readFileSync(env('REFUSED_PHOTO'));

// The todo demo's tables, with todos.photo_id as in the demo's attachment version.
const schema = new Schema({
  lists: new Table({ created_at: column.text, name: column.text, owner_id: column.text }),
  todos: new Table(
    {
      list_id: column.text,
      created_at: column.text,
      completed_at: column.text,
      description: column.text,
      created_by: column.text,
      completed_by: column.text,
      completed: column.integer,
      photo_id: column.text,
    },
    { indexes: { list: ['list_id'] } },
  ),
  attachments: new AttachmentTable(),
});

/** Waits until check() is true, polling; fails after ms. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`nodeclient: ${what}: not within ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const began = Date.now();
  const phases: Record<string, number> = {};
  const phase = (name: string) => (phases[name] = Date.now() - began - Object.values(phases).reduce((a, b) => a + b, 0));
  const db = new PowerSyncDatabase({ schema, database: { dbFilename: 'app.db', dbLocation: workDir } });
  await db.init();

  const reports: { status: number; body: unknown }[] = [];
  const connector = new SyncgateConnector({
    url,
    userId: async () => user,
    onRejected: (info) => reports.push(info),
  });
  const queue = todoPhotoQueue(db, url, connector, new NodeFileSystemAdapter(join(workDir, 'attachments')));
  await queue.startSync();
  phase('open');

  // Offline writes, one transaction each, in the order an app would make them.
  const listId = crypto.randomUUID();
  await db.execute(`INSERT INTO lists (id, created_at, name, owner_id) VALUES (?, datetime(), ?, ?)`, [
    listId,
    'Groceries',
    user,
  ]);
  const milk = crypto.randomUUID();
  await db.execute(
    `INSERT INTO todos (id, created_at, list_id, description, created_by, completed) VALUES (?, datetime(), ?, ?, ?, 0)`,
    [milk, listId, 'milk', user],
  );
  // Refused by syncgate's schema (description: minLength 1): reported once, never retried.
  const refused = crypto.randomUUID();
  await db.execute(`INSERT INTO todos (id, created_at, list_id, description, completed) VALUES (?, datetime(), ?, '', 0)`, [
    refused,
    listId,
  ]);
  // A todo with a file syncgate refuses (415), queued before the good photo: it must not block it.
  const withRefusedPhoto = crypto.randomUUID();
  const refusedPhotoRecord = await queue.saveFile({
    data: refusedPhoto.buffer.slice(refusedPhoto.byteOffset, refusedPhoto.byteOffset + refusedPhoto.byteLength),
    fileExtension: 'jpg',
    mediaType: 'image/jpeg',
    updateHook: async (tx, attachment) => {
      await tx.execute(
        `INSERT INTO todos (id, created_at, list_id, description, completed, photo_id) VALUES (?, datetime(), ?, ?, 0, ?)`,
        [withRefusedPhoto, listId, 'receipt', attachment.id],
      );
    },
  });
  const withPhoto = crypto.randomUUID();
  const photoRecord = await queue.saveFile({
    data: photo.buffer.slice(photo.byteOffset, photo.byteOffset + photo.byteLength),
    fileExtension: 'jpg',
    mediaType: 'image/jpeg',
    updateHook: async (tx, attachment) => {
      await tx.execute(
        `INSERT INTO todos (id, created_at, list_id, description, completed, photo_id) VALUES (?, datetime(), ?, ?, 0, ?)`,
        [withPhoto, listId, 'bread', attachment.id],
      );
    },
  });
  await db.execute(`UPDATE todos SET completed = 1, completed_at = datetime(), completed_by = ? WHERE id = ?`, [user, milk]);

  const queued = (await db.getUploadQueueStats()).count;
  phase('write');

  // Drain the CRUD queue the way the SDK's upload loop does: uploadData until nothing is left.
  let transactions = 0;
  for (; transactions < 50; transactions++) {
    if (!(await db.getNextCrudTransaction())) {
      break;
    }
    await connector.uploadData(db);
  }
  const left = (await db.getUploadQueueStats()).count;
  if (left !== 0) {
    throw new Error(`nodeclient: ${left} CRUD entries left after ${transactions} uploads`);
  }

  phase('crud');

  // The attachment queue: the good photo synced, the refused one archived, both within 60 s.
  const stateOf = async (id: string) =>
    (await db.getOptional<{ state: number }>(`SELECT state FROM attachments WHERE id = ?`, [id]))?.state;
  await queue.syncStorage();
  await until('the photo uploaded and the refused one archived', 60_000, async () => {
    return (await stateOf(photoRecord.id)) === AttachmentState.SYNCED && (await stateOf(refusedPhotoRecord.id)) === AttachmentState.ARCHIVED;
  });
  await queue.stopSync();
  phase('attachments');

  // The adapter's download path: the same bytes back.
  const back = new Uint8Array(await new SyncgateStorageAdapter(url, connector).downloadFile(photoRecord));
  if (Buffer.compare(Buffer.from(back), photo) !== 0) {
    throw new Error(`nodeclient: downloaded photo: ${back.length} bytes differ from the ${photo.length} uploaded`);
  }

  const result = {
    listId,
    milk,
    refused,
    withPhoto,
    withRefusedPhoto,
    photoId: photoRecord.id,
    refusedPhotoId: refusedPhotoRecord.id,
    queued,
    transactions,
    reports,
    phases,
  };
  await db.close();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
