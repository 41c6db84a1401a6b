import type { ClientMetrics } from '../metrics/events.ts';
import type { ClientChannel } from './channel.ts';
import type { ResolvedClientOptions } from './options.ts';

/** What upload and download need from the client. @internal */
export interface TransferContext {
  readonly channel: ClientChannel;
  readonly options: ResolvedClientOptions;
  readonly metrics: ClientMetrics;
}
