/**
 * Live guessing: asks for a guess at most once per interval while the drawing changes, and at once
 * when it settles (pen up, undo, a new model). Only the newest request's answer is ever delivered,
 * so answers never arrive out of order, and drawing never waits for the network.
 */

export const GUESS_INTERVAL_MS = 200;

export class LiveGuesser {
  #capture;
  #send;
  #handlers;
  #interval;
  #sequence = 0;
  #inFlight = null;
  #timer = null;
  #lastSent = -Infinity;
  #dirty = false;

  /**
   * @param {object} options
   * @param {() => object | null} options.capture  the request to make now, or null for a blank pad
   * @param {(request: object, signal: AbortSignal) => Promise<object>} options.send
   * @param {{result: Function, blank: Function, pending: Function, error: Function}} options.on
   */
  constructor({ capture, send, on, interval = GUESS_INTERVAL_MS }) {
    this.#capture = capture;
    this.#send = send;
    this.#handlers = on;
    this.#interval = interval;
  }

  /** The drawing is changing: guess again soon, without piling up requests. */
  changed() {
    this.#dirty = true;
    if (this.#timer !== null || this.#inFlight) return;
    const wait = Math.max(0, this.#lastSent + this.#interval - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#run();
    }, wait);
  }

  /** The drawing has settled: guess now, dropping any older request. */
  settle() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#inFlight?.abort();
    this.#inFlight = null;
    this.#run();
  }

  async #run() {
    this.#dirty = false;
    const sequence = ++this.#sequence;
    const request = this.#capture();
    if (!request) {
      this.#inFlight?.abort();
      this.#inFlight = null;
      this.#handlers.blank();
      return;
    }
    const controller = new AbortController();
    this.#inFlight = controller;
    this.#lastSent = performance.now();
    this.#handlers.pending(request);
    try {
      const answer = await this.#send(request, controller.signal);
      if (sequence === this.#sequence) this.#handlers.result(answer, request);
    } catch (error) {
      if (error.name !== 'AbortError' && sequence === this.#sequence) this.#handlers.error(error, request);
    } finally {
      if (this.#inFlight === controller) {
        this.#inFlight = null;
        if (this.#dirty) this.changed();
      }
    }
  }
}
