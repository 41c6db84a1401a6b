/**
 * A source whose chunks may be handed back once their bytes have left (written to the socket), so
 * that the next read fills the same memory (storage's `FileChunkStream` is one). The transport's
 * sender calls {@link RecyclingSource.recycle}; any other consumer simply never does.
 * @internal
 */
export interface RecyclingSource {
  /** `chunk` (a whole chunk this source produced) is no longer referenced: its memory may be reused. */
  recycle(chunk: Buffer): void;
}

/** Whether `source` takes its chunks back ({@link RecyclingSource}). @internal */
export function isRecyclingSource(source: unknown): source is RecyclingSource {
  return typeof (source as Partial<RecyclingSource> | null)?.recycle === 'function';
}
