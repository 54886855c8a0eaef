/**
 * The part of an AbortSignal that a job's waits and calls use: whether to stop, and being told.
 * AbortSignal satisfies it.
 */
export interface StopSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * What stops one delivery job (its ownership lost, or the engine closing), as an AbortController
 * would, without an EventTarget per job: creating each job's AbortSignal was ~1% of a delivering
 * instance, and its listeners about as much again. As an AbortSignal's, a listener runs once, and
 * one added after the stop never runs.
 */
export class JobStop implements StopSignal {
  aborted = false;
  private listeners: Array<() => void> = [];

  addEventListener(_type: "abort", listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }
}
