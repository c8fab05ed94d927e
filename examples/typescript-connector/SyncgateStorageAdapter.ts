// A RemoteStorageAdapter for the PowerSync JS SDK's attachment queue that keeps files in
// syncgate (PUT/GET/DELETE /attachments/{id}, stored in MongoDB's GridFS; docs/attachments.md).
// The paths and bodies are those of PowerSync's Node.js demo backend (/api/attachments/:id),
// with the connector's PowerSync token added; a 401 refreshes the token and retries once.
// Files are keyed by the attachment's id, the value the app stores in todos.photo_id, which is
// what syncgate's ATTACHMENT_REFS=todos.photo_id and `attachments purge --orphans` look at.
//
// Errors: 413 (over ATTACHMENT_MAX_BYTES), 415 (a type outside ATTACHMENT_TYPES) and 403
// (another user's id) can never succeed as sent: they are thrown as PermanentAttachmentError,
// for the queue's error handler to archive the attachment instead of retrying it forever;
// everything else (5xx, network, a 404 of a file its uploader has not sent yet) is thrown as
// is, and the queue retries later.
import {
  AbstractPowerSyncDatabase,
  AttachmentErrorHandler,
  AttachmentQueue,
  AttachmentRecord,
  LocalStorageAdapter,
  RemoteStorageAdapter,
} from '@powersync/web';
import { SyncgateConnector } from './SyncgateConnector.js';

export class PermanentAttachmentError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class SyncgateStorageAdapter implements RemoteStorageAdapter {
  constructor(
    private readonly url: string,
    private readonly connector: Pick<SyncgateConnector, 'currentToken'>,
  ) {}

  async uploadFile(fileData: ArrayBuffer, attachment: AttachmentRecord): Promise<void> {
    await this.call('PUT', attachment, fileData);
  }

  async downloadFile(attachment: AttachmentRecord): Promise<ArrayBuffer> {
    return (await this.call('GET', attachment)).arrayBuffer();
  }

  async deleteFile(attachment: AttachmentRecord): Promise<void> {
    await this.call('DELETE', attachment); // 204 also when it was not there
  }

  private async call(method: string, attachment: AttachmentRecord, body?: ArrayBuffer): Promise<Response> {
    const url = `${this.url}/attachments/${encodeURIComponent(attachment.id)}`;
    const send = async (refresh: boolean) =>
      fetch(url, {
        method,
        body,
        headers: { Authorization: `Bearer ${await this.connector.currentToken(refresh)}` },
      });
    let res = await send(false);
    if (res.status === 401) {
      res = await send(true); // expired or rotated: one fresh token, one retry
    }
    if (res.ok) {
      return res;
    }
    const text = await res.text();
    const message = `syncgate ${method} /attachments/${attachment.id}: ${res.status} ${text}`;
    if (res.status === 403 || res.status === 413 || res.status === 415) {
      throw new PermanentAttachmentError(message, res.status);
    }
    throw new Error(message);
  }
}

/** Archives attachments syncgate refused for good; retries the rest. */
export const syncgateErrorHandler: AttachmentErrorHandler = {
  onDownloadError: async (_attachment, error) => !(error instanceof PermanentAttachmentError),
  onUploadError: async (_attachment, error) => !(error instanceof PermanentAttachmentError),
  onDeleteError: async (_attachment, error) => !(error instanceof PermanentAttachmentError),
};

/**
 * The attachment queue of the todo demo: every todos.photo_id is an attachment, uploaded to and
 * downloaded from syncgate. localStorage is the platform's (IndexDBFileSystemStorageAdapter in a
 * browser). Call startSync() on the result after connecting the database.
 */
export function todoPhotoQueue(
  db: AbstractPowerSyncDatabase,
  url: string,
  connector: SyncgateConnector,
  localStorage: LocalStorageAdapter,
): AttachmentQueue {
  return new AttachmentQueue({
    db,
    localStorage,
    remoteStorage: new SyncgateStorageAdapter(url, connector),
    errorHandler: syncgateErrorHandler,
    watchAttachments: (onUpdate, signal) => {
      db.watch(
        'SELECT photo_id FROM todos WHERE photo_id IS NOT NULL',
        [],
        {
          onResult: (result) =>
            void onUpdate(
              (result.rows?._array ?? []).map((row: { photo_id: string }) => ({
                id: row.photo_id,
                fileExtension: 'jpg',
              })),
            ),
        },
        { signal },
      );
    },
  });
}
