/**
 * Live guessing: asks for a guess at most once per interval while the drawing changes, and at once
 * when it settles (pen up, undo, a new model). Only the newest request's answer is ever delivered,
 * so answers never arrive out of order, and drawing never waits for the network. A drawing that settles
 * as the newest request saw it (the pen rested before it lifted) is not asked about again: that
 * request's answer, come or coming, is the settled one.
 */

export const GUESS_INTERVAL_MS = 200;

export class LiveGuesser {
  #capture;
  #current;
  #send;
  #handlers;
  #interval;
  #sequence = 0;
  #inFlight = null;
  #latest = null; // {request, answer}: the newest request and, once it came, its answer
  #timer = null;
  #lastSent = -Infinity;
  #dirty = false;

  /**
   * @param {object} options
   * @param {() => object | null} options.capture  the request to make now, or null for a blank pad
   * @param {(request: object) => boolean} options.current  whether a request is of the drawing as it is now
   * @param {(request: object, signal: AbortSignal) => Promise<object>} options.send
   * @param {{result: Function, blank: Function, pending: Function, error: Function}} options.on
   */
  constructor({ capture, current, send, on, interval = GUESS_INTERVAL_MS }) {
    this.#capture = capture;
    this.#current = current;
    this.#send = send;
    this.#handlers = on;
    this.#interval = interval;
  }

  /** Whether `request` was made of the drawing as it is now. */
  isCurrent(request) {
    return this.#current(request);
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
    const latest = this.#latest;
    if (latest && this.isCurrent(latest.request) && (latest.answer || this.#inFlight)) {
      if (latest.answer) this.#handlers.result(latest.answer, latest.request);
      return; // else delivered when it comes
    }
    this.#inFlight?.abort();
    this.#inFlight = null;
    this.#run();
  }

  async #run() {
    this.#dirty = false;
    const sequence = ++this.#sequence;
    const request = this.#capture();
    this.#latest = request && { request, answer: null };
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
      if (sequence === this.#sequence) {
        this.#latest.answer = answer;
        this.#handlers.result(answer, request);
      }
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
