// A PowerSyncBackendConnector for the PowerSync JS SDK that talks to syncgate.
//
// fetchCredentials: GET /token (with the caller's API key or identity-provider ID token,
// depending on syncgate's TOKEN_AUTH), returning the token and the PowerSync URL.
// uploadData: sends one CRUD transaction to POST /upload with the PowerSync token.
//   2xx  → done (rejected ops, if any, are listed in the body and recorded server-side, raw
//          text included when an op could not be decoded; an operator lists them with
//          `syncgate rejected list` or /admin/ and replays them once the rule is fixed);
//   4xx  → only a framing error (not JSON, no batch array, too large) or strict mode (422):
//          nothing was written or recorded, so report it loudly, then complete, so one bad
//          write never blocks the upload queue forever (401 first refreshes the token and retries);
//   5xx / network errors → throw, and the SDK retries later (syncgate answers 503 with
//          Retry-After while the database is down; every op is idempotent, so resending is safe).
import {
  AbstractPowerSyncDatabase,
  PowerSyncBackendConnector,
  PowerSyncCredentials,
} from '@powersync/web';

export interface SyncgateConnectorOptions {
  /** syncgate base URL, e.g. https://api.example.com */
  url: string;
  /** Returns the value for /token's Authorization header (API key or ID token); undefined for TOKEN_AUTH=dev. */
  authorization?: () => Promise<string | undefined>;
  /** The user id, for TOKEN_AUTH=dev and api-key (ignored with jwks: the ID token decides). */
  userId?: () => Promise<string>;
  /** Called with the ops syncgate rejected, or with the error of a refused transaction. */
  onRejected?: (info: { status: number; body: unknown }) => void;
}

interface UploadResult {
  applied: number;
  rejected: { index: number; op: string; table: string; id: string; code: string; reason: string; tx_id?: number }[];
}

export class SyncgateConnector implements PowerSyncBackendConnector {
  private token: string | undefined;

  constructor(private readonly options: SyncgateConnectorOptions) {}

  async fetchCredentials(): Promise<PowerSyncCredentials> {
    const query = this.options.userId ? `?user_id=${encodeURIComponent(await this.options.userId())}` : '';
    const headers: Record<string, string> = {};
    const authorization = await this.options.authorization?.();
    if (authorization) {
      headers['Authorization'] = `Bearer ${authorization}`;
    }
    const res = await fetch(`${this.options.url}/token${query}`, { headers });
    if (!res.ok) {
      throw new Error(`syncgate /token: ${res.status} ${await res.text()}`);
    }
    const body = (await res.json()) as { token: string; powersync_url: string; expires_at: string };
    this.token = body.token;
    return { endpoint: body.powersync_url, token: body.token, expiresAt: new Date(body.expires_at) };
  }

  async uploadData(database: AbstractPowerSyncDatabase): Promise<void> {
    const transaction = await database.getNextCrudTransaction();
    if (!transaction) {
      return;
    }
    const batch = transaction.crud.map((entry) => entry.toJSON());
    let res = await this.post(batch);
    if (res.status === 401) {
      await this.fetchCredentials(); // expired or rotated: one fresh token, one retry
      res = await this.post(batch);
    }
    if (res.status >= 500) {
      throw new Error(`syncgate /upload: ${res.status}; the SDK retries later`);
    }
    if (res.ok) {
      const result = (await res.json()) as UploadResult;
      if (result.rejected.length > 0) {
        this.options.onRejected?.({ status: res.status, body: result });
      }
    } else {
      // 4xx: a framing error or strict mode — nothing of this transaction was written or
      // recorded server-side; it can never succeed as it is, so report it and move on.
      this.options.onRejected?.({ status: res.status, body: await res.json().catch(() => undefined) });
    }
    await transaction.complete();
  }

  /** The current PowerSync token (fetched when there is none), e.g. for the attachment adapter. */
  async currentToken(refresh = false): Promise<string> {
    if (!this.token || refresh) {
      await this.fetchCredentials();
    }
    return this.token!;
  }

  private async post(batch: unknown[]): Promise<Response> {
    if (!this.token) {
      await this.fetchCredentials();
    }
    return fetch(`${this.options.url}/upload`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ batch }),
    });
  }
}
