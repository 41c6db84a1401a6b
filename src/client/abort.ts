import { FileShareError } from '../errors.ts';

/** @throws EABORTED when `signal` is already aborted. @internal */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** The EABORTED error for an aborted signal, keeping its reason as `cause`. @internal */
export function abortError(signal: AbortSignal): FileShareError {
  return new FileShareError('EABORTED', 'the operation was aborted', { cause: signal.reason });
}

/**
 * Run `fn` once when `signal` aborts, or at once if it already has: an `'abort'` listener added
 * after the fact never fires, so an abort that came while the caller awaited something (opening the
 * local file, say) was lost and the transfer ran to completion. Returns the function that removes
 * the listener. @internal
 */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * Call the caller's `onProgress`. It runs inside the transfer machinery (the send scheduler, write
 * callbacks), so an exception from it is ignored rather than allowed to break the transfer.
 * @internal
 */
export function reportProgress<P>(onProgress: ((progress: P) => void) | undefined, progress: P): void {
  try {
    onProgress?.(progress);
  } catch {
    /* a throwing progress callback must not break the transfer */
  }
}
