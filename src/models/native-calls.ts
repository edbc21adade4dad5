// Counts this replica's onnxruntime calls in flight, in shared memory the server thread reads too.
// Terminating a thread while a native call is still running aborts the whole process (the call's
// completion lands in a torn-down environment). So before terminating a stuck replica the server
// raises its `closing` flag, after which no new native call starts, and waits for the count to
// reach zero. Model.run and session creation go through here.

const IN_FLIGHT = 0;
const CLOSING = 1;

const gauge = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));

/** The replica's gauge, handed to the server thread once (shared, not copied). */
export function nativeCallGauge(): Int32Array {
  return gauge;
}

export async function duringNativeCall<T>(call: () => Promise<T>): Promise<T> {
  // Count first, then look at the flag: with the server raising the flag before it reads the
  // count, one of the two always sees the other.
  Atomics.add(gauge, IN_FLIGHT, 1);
  if (Atomics.load(gauge, CLOSING) === 1) {
    Atomics.sub(gauge, IN_FLIGHT, 1);
    // The thread is about to be terminated: never start the call, never settle.
    return new Promise<T>(() => undefined);
  }
  try {
    return await call();
  } finally {
    Atomics.sub(gauge, IN_FLIGHT, 1);
  }
}

/** Whether the server has marked this replica for replacement: a run handed to it now must not begin. */
export function replicaClosing(): boolean {
  return Atomics.load(gauge, CLOSING) === 1;
}

/** Server side: stop new native calls in that replica; true once none is running. */
export function closeNativeCalls(replicaGauge: Int32Array): boolean {
  Atomics.store(replicaGauge, CLOSING, 1);
  return Atomics.load(replicaGauge, IN_FLIGHT) === 0;
}
