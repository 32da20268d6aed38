/**
 * "Why this guess": the maps of POST /api/explain drawn over the downsampled drawing and in a larger
 * view on the diverging scale (orange: evidence for the digit, blue: against it), with a choice between
 * the first guess, the second guess, and the first rather than the second (their difference).
 */

import { DIVERGING, LUT_SIZE } from './colors.js';
import { bitsToBytes } from './network.js';

const SIDE = 28;
const NO_INK = [58, 63, 71]; // the larger view's background: dark, so that neutral (near-white) ink shows
const MIN_ALPHA = 0.3; // the overlay keeps weak evidence faintly visible over the black ink below it

/** The map for a target ('first', 'second' or 'versus') of an explain answer, with its two ends' names. */
export function targetMap(answer, target) {
  const [first, second] = answer.explanations;
  const flat = (entry) => Float32Array.from(entry.map.flat());
  if (target === 'versus' && second) {
    const a = flat(first);
    const b = flat(second);
    return {
      values: a.map((v, i) => v - b[i]), low: `favours ${second.digit}`, high: `favours ${first.digit}`,
      label: `${first.digit} rather than ${second.digit}`,
    };
  }
  const entry = target === 'second' && second ? second : first;
  return { values: flat(entry), low: `against ${entry.digit}`, high: `for ${entry.digit}`, label: `the ${entry.digit}` };
}

function colour(value, scale) {
  const t = (value / scale + 1) / 2;
  const i = Math.round(Math.min(1, Math.max(0, t)) * (LUT_SIZE - 1)) * 3;
  return [DIVERGING[i], DIVERGING[i + 1], DIVERGING[i + 2]];
}

export class WhyView {
  #root;
  #overlay;
  #large;
  #choices;
  #answer = null;
  #overlaid = false; // the overlay shows a map

  /** `root` holds the choices, the larger view and its legend; `overlay` lies over the downsampled drawing. */
  constructor(root, overlay) {
    this.#root = root;
    this.#overlay = overlay;
    this.#large = root.querySelector('[data-role="why-map"]');
    this.#choices = Array.from(root.querySelectorAll('input[name="why-target"]'));
    for (const choice of this.#choices) choice.addEventListener('change', () => this.#render());
  }

  get target() {
    return this.#choices.find((c) => c.checked)?.value ?? 'first';
  }

  /** Nothing on the pad: nothing to explain. */
  clear() {
    this.#answer = null;
    this.#root.dataset.state = 'empty';
    this.#overlaid = false;
    this.#overlay.getContext('2d').clearRect(0, 0, SIDE, SIDE);
    this.#large.getContext('2d').clearRect(0, 0, SIDE, SIDE);
    this.#text('summary', 'Draw a digit to see which of its pixels made the network decide.');
  }

  /** The drawing changed: the map shown belongs to an older drawing until the next one arrives. */
  stale() {
    if (this.#answer) this.#root.dataset.state = 'pending';
    if (!this.#overlaid) return; // a cleared canvas left alone: a repaint the pen-up's frame need not make
    this.#overlaid = false;
    this.#overlay.getContext('2d').clearRect(0, 0, SIDE, SIDE);
  }

  error(message) {
    this.#root.dataset.state = 'error';
    this.#text('summary', `No explanation: ${message}`);
  }

  show(answer) {
    this.#answer = answer;
    this.#root.dataset.state = 'done';
    const [first, second] = answer.guesses;
    const names = { first: `${first.digit}: first guess`, second: `${second.digit}: second guess`, versus: `${first.digit} rather than ${second.digit}` };
    for (const choice of this.#choices) {
      choice.closest('label').querySelector('[data-role="choice-text"]').textContent = names[choice.value];
    }
    this.#text('method', answer.explanations[0].method);
    this.#render();
  }

  #text(role, text) {
    const node = this.#root.querySelector(`[data-role="${role}"]`);
    if (node) node.textContent = text;
  }

  #render() {
    const answer = this.#answer;
    if (!answer) return;
    const { values, low, high, label } = targetMap(answer, this.target);
    const ink = bitsToBytes(answer.input.bits);
    const scale = Math.max(1e-6, ...values.map(Math.abs));
    const large = this.#large.getContext('2d');
    const over = this.#overlay.getContext('2d');
    const big = large.createImageData(SIDE, SIDE);
    const small = over.createImageData(SIDE, SIDE);
    let pro = 0;
    let contra = 0;
    for (let i = 0; i < SIDE * SIDE; i++) {
      if (!ink[i]) {
        big.data.set([...NO_INK, 255], i * 4);
        continue;
      }
      const rgb = colour(values[i], scale);
      big.data.set([...rgb, 255], i * 4);
      small.data.set([...rgb, Math.round(255 * (MIN_ALPHA + (1 - MIN_ALPHA) * Math.abs(values[i]) / scale))], i * 4);
      if (values[i] > scale * 0.05) pro++;
      else if (values[i] < -scale * 0.05) contra++;
    }
    large.putImageData(big, 0, 0);
    over.putImageData(small, 0, 0);
    this.#overlaid = true;
    this.#text('low', low);
    this.#text('high', high);
    this.#text('scale', `±${scale.toPrecision(2)}`);
    const summary = `Evidence for ${label}: ${pro} ink pixels for, ${contra} against.`;
    this.#text('summary', summary);
    this.#large.setAttribute('aria-label', `Map of ${summary}`);
    this.#root.dataset.target = this.target;
  }
}

/** Asks for an explanation of each settled guess, dropping the request for an older one. */
export class Explainer {
  #send;
  #controller = null;

  constructor(send) {
    this.#send = send;
  }

  /** Explains `answer` (a /api/predict answer); resolves to the explanation, or null if superseded. */
  async explain(answer, model) {
    this.cancel();
    const controller = new AbortController();
    this.#controller = controller;
    const digits = answer.guesses.slice(0, 2).map((g) => g.digit);
    try {
      const explanation = await this.#send({ bits: answer.input.bits, model, digits, signal: controller.signal });
      return controller === this.#controller ? explanation : null;
    } catch (error) {
      if (error.name === 'AbortError' || controller !== this.#controller) return null;
      throw error;
    }
  }

  cancel() {
    this.#controller?.abort();
    this.#controller = null;
  }
}
