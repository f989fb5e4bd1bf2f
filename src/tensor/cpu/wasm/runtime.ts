/**
 * The few WebAssembly JS-API types the CPU kernels use. The project's TypeScript lib is plain
 * ES2022 (no DOM), which declares no `WebAssembly` global, and declaring one globally here
 * would clash with any file that later adds the DOM lib; so the API is reached through
 * globalThis with local, minimal types.
 */

/** A compiled module (opaque; structured-cloneable to worker threads). */
export type WasmModule = object & { readonly __wasmModule?: never };

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

/** The engine's WebAssembly object, or null where there is none. */
export function wasmApi(): WasmApi | null {
  const wa = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  return typeof wa === 'object' && wa !== null ? wa : null;
}
