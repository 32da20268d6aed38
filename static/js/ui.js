/**
 * The page's elements, and the results region: the downsampled drawing, the first and second
 * guess, a bar per digit, the "not sure" state and the spoken announcement.
 */

import { bitsToBytes } from './network.js';

export const LOW_CONFIDENCE = 0.6; // below this top probability the page says it is not sure
const INPUT_SIDE = 28;

/** Every element the scripts touch, looked up once. */
export function lookUp(root = document) {
  const byTestId = (id) => root.querySelector(`[data-testid="${id}"]`);
  const byRole = (scope, role) => scope.querySelector(`[data-role="${role}"]`);
  const results = byTestId('results');
  return {
    pad: byTestId('pad'),
    tools: {
      pencil: byTestId('pencil'), eraser: byTestId('eraser'), undo: byTestId('undo'), clear: byTestId('clear'),
    },
    model: byTestId('model'),
    modelDescription: root.getElementById('model-description'),
    results,
    status: byRole(results, 'status'),
    announce: byRole(results, 'announce'),
    downsampled: byTestId('downsampled'),
    firstGuess: byTestId('first-guess'),
    secondGuess: byTestId('second-guess'),
    firstProbability: byRole(results, 'first-probability'),
    secondProbability: byRole(results, 'second-probability'),
    bars: Array.from({ length: 10 }, (_, d) => byTestId(`prob-${d}`)),
    layers: root.querySelector('[data-role="layers"]'),
    unitDetail: byTestId('unit-detail'),
    why: root.getElementById('why'),
    whyOverlay: byRole(results, 'why-overlay'),
    config: JSON.parse(root.getElementById('page-config').textContent),
  };
}

function percent(p) {
  return p >= 0.995 ? '>99%' : p < 0.005 ? '<1%' : `${Math.round(p * 100)}%`;
}

export class ResultsView {
  #els;

  constructor(els) {
    this.#els = els;
  }

  /** Nothing on the pad: no guess at all. */
  empty() {
    const els = this.#els;
    this.#state('empty', 'high');
    els.status.textContent = 'Draw a digit';
    els.firstGuess.textContent = '';
    els.secondGuess.textContent = '';
    els.firstProbability.textContent = '';
    els.secondProbability.textContent = '';
    els.downsampled.getContext('2d').clearRect(0, 0, INPUT_SIDE, INPUT_SIDE);
    this.#bars(new Array(10).fill(0));
  }

  /** The drawing changed since the guesses shown were made. */
  pending() {
    if (this.#els.results.dataset.state === 'empty') this.#els.status.textContent = 'Reading your drawing…';
    this.#els.results.dataset.state = 'pending';
  }

  /** A prediction; `current` when it was made from the drawing now on the pad. */
  show(answer, current) {
    const els = this.#els;
    const [first, second] = answer.guesses;
    const unsure = first.probability < LOW_CONFIDENCE;
    this.#state(current ? 'done' : 'pending', unsure ? 'low' : 'high');
    els.firstGuess.textContent = String(first.digit);
    els.firstProbability.textContent = percent(first.probability);
    els.secondGuess.textContent = second ? String(second.digit) : '';
    els.secondProbability.textContent = second ? percent(second.probability) : '';
    els.status.textContent = unsure
      ? `Not sure: ${first.digit} or ${second.digit}?`
      : `It looks like a ${first.digit}`;
    this.#bars(answer.probabilities);
    this.#downsampled(answer.input.bits);
  }

  error(message) {
    this.#els.results.dataset.state = 'pending';
    this.#els.status.textContent = message;
  }

  /** Says the guess once, when the drawing settles, not on every update while drawing. */
  announce(answer) {
    const [first, second] = answer.guesses;
    this.#els.announce.textContent = first.probability < LOW_CONFIDENCE
      ? `Not sure. Maybe ${first.digit}, ${percent(first.probability)}, or ${second.digit}, ${percent(second.probability)}.`
      : `First guess ${first.digit}, ${percent(first.probability)}. Second guess ${second.digit}.`;
  }

  #state(state, confidence) {
    this.#els.results.dataset.state = state;
    this.#els.results.dataset.confidence = confidence;
  }

  #bars(probabilities) {
    const top = Math.max(...probabilities);
    this.#els.bars.forEach((bar, d) => {
      const p = probabilities[d];
      bar.dataset.probability = p.toFixed(4);
      bar.classList.toggle('leading', p > 0 && p === top);
      bar.querySelector('.bar-fill').style.transform = `scaleX(${p})`;
      bar.querySelector('.bar-value').textContent = p > 0 ? percent(p) : '';
    });
  }

  #downsampled(bits) {
    const ctx = this.#els.downsampled.getContext('2d');
    const bytes = bitsToBytes(bits);
    const image = ctx.createImageData(INPUT_SIDE, INPUT_SIDE);
    for (let i = 0; i < bytes.length; i++) {
      image.data[i * 4 + 3] = bytes[i]; // black ink where the bit is set, clear elsewhere
    }
    ctx.putImageData(image, 0, 0);
  }
}
