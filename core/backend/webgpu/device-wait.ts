/**
 * Waiting for the device without taking a CPU core from it.
 *
 * Why: Node's `webgpu` package (Dawn) delivers a pending promise (mapAsync, onSubmittedWorkDone) by polling
 * Dawn from back-to-back `setImmediate` callbacks for as long as the promise is pending: the main thread
 * spins at 100% of a core. On a real GPU that only wastes a core; on a software device (lavapipe, which
 * runs the kernels on the same CPU cores) the spinning thread competes with the device's worker threads.
 * Measured on this project's 2-core machine (bench/dev/device-wait.ts, medians): 30 matmuls 1024² took
 * 2.56 s awaited plainly and 1.53 s with the sleeping wait below, one matmul and its read-back 110 and
 * 68 ms (a T5-small KronA step 5.4 → 3.05 s). Deno's wgpu does not spin like this, and sleeping there
 * delays its read-backs (one matmul + read-back: 90 → 128 ms), so only Node's host uses it.
 *
 * How: between event-loop turns (in which the runtime's poller runs and settles the promise) the thread
 * sleeps in `Atomics.wait`, which blocks without using the CPU; the sleep grows from `firstSleepMs` to
 * `maxSleepMs`, so a short wait (a real GPU, a small step) adds little latency and a long one (a training
 * step on lavapipe) costs a wake-up per millisecond.
 *
 * `Atomics.wait` may block the main thread in Node and Deno, not in a browser's window (it throws there):
 * hosts opt in (runners/host.ts hostDeviceWait: Node); the backend's default is a plain `await`.
 */

/** How the WebGPU backend waits for a device promise (see the file comment). */
export type DeviceWait = <T>(work: Promise<T>) => Promise<T>;

/** The default: await the promise. */
export const plainDeviceWait: DeviceWait = (work) => work;

export interface SleepingWaitOptions {
  /** First sleep between turns (ms); default 0.05. */
  readonly firstSleepMs?: number;
  /** Longest sleep between turns (ms); default 1. */
  readonly maxSleepMs?: number;
}

/**
 * A DeviceWait that sleeps the thread between event-loop turns. `nextTurn` resolves after one macrotask
 * turn in which the runtime's WebGPU poller runs (Node and Deno: `setImmediate`).
 */
export function sleepingDeviceWait(nextTurn: () => Promise<void>, options: SleepingWaitOptions = {}): DeviceWait {
  const firstSleepMs = options.firstSleepMs ?? 0.05;
  const maxSleepMs = options.maxSleepMs ?? 1;
  // Atomics.wait needs a shared Int32Array; nothing ever notifies it, so each wait lasts its timeout.
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return async <T>(work: Promise<T>): Promise<T> => {
    let settled = false;
    // (this handler also marks a rejection handled while the loop runs; the caller gets it from `work`)
    const markSettled = () => void (settled = true);
    work.then(markSettled, markSettled);
    let sleepMs = firstSleepMs;
    for (;;) {
      await nextTurn();
      if (settled) break;
      Atomics.wait(cell, 0, 0, sleepMs);
      sleepMs = Math.min(maxSleepMs, sleepMs * 2);
    }
    return work;
  };
}
