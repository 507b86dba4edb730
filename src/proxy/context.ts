// The runtime state shared by the handlers of one proxy process (built once by app.ts).
// Handlers read it; only app.ts replaces the catalog (reload) or the users (SIGHUP).
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Catalog } from '../catalog/types.js';
import type { AddressSet } from '../policy/address-set.js';
import type { PolicyOptions } from '../policy/classify.js';
import type { Telemetry } from '../observability/telemetry.js';
import type { ParentProxy } from '../tunnel/upstream.js';
import type { Interceptor } from '../tunnel/intercept.js';
import type { IdleSweeper } from '../tunnel/idle-sweeper.js';
import type { Authenticator } from './auth.js';

export type { Authenticator } from './auth.js';

export interface ProxyContext {
  readonly config: Config;
  readonly policy: PolicyOptions;
  readonly telemetry: Telemetry;
  readonly deny: AddressSet;
  readonly parent: ParentProxy | null;
  catalog: Catalog | null;
  auth: Authenticator | null;
  interceptor: Interceptor | null;
  /** Closes tunnels that moved no byte for --idle-timeout. */
  readonly idle: IdleSweeper;
  /** Open tunnels (client sockets), for draining at shutdown. */
  readonly tunnels: Set<Socket>;
  draining: boolean;
}
