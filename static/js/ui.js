/**
 * The page's elements, and the results region: the downsampled drawing, the first and second
 * guess, a bar per digit, the "not sure" state and the spoken announcement.
 */

import { bitsToBytes } from './network.js';

export const LOW_CONFIDENCE = 0.6; // below this top probability the page says it is not sure

function found(element, what) {
  if (!element) throw new Error(`The page has no ${what}.`);
  return element;
}

/**
 * Every element the scripts touch, looked up once: page-wide ones by id, the parts of a region by
 * `data-role` within it (`data-testid` is the tests' own).
 */
export function lookUp(root = document) {
  const byId = (id) => found(root.getElementById(id), `element #${id}`);
  const byRole = (scope, role) => found(scope.querySelector(`[data-role="${role}"]`), `[data-role="${role}"]`);
  const results = byId('results');
  const numberResults = byId('number-results');
  return {
    workspace: byId('workspace'),
    modes: { digit: byId('mode-digit'), number: byId('mode-number') },
    titles: { digit: byRole(root, 'digit-title'), number: byRole(root, 'number-title') },
    frames: { digit: byRole(root, 'digit-pad'), number: byRole(root, 'number-pad') },
    pad: byId('pad'),
    numberPad: byId('number-pad'),
    number: {
      results: numberResults,
      boxes: byRole(root, 'digit-boxes'),
      status: byRole(numberResults, 'status'),
      announce: byRole(numberResults, 'announce'),
      text: byRole(numberResults, 'number-text'),
      confidence: byRole(numberResults, 'number-confidence'),
      digits: byRole(numberResults, 'number-digits'),
      detail: byRole(numberResults, 'number-detail'),
      caption: byRole(numberResults, 'detail-caption'),
      downsampled: byRole(numberResults, 'downsampled'),
      firstGuess: byRole(numberResults, 'first-guess'),
      secondGuess: byRole(numberResults, 'second-guess'),
      firstProbability: byRole(numberResults, 'first-probability'),
      secondProbability: byRole(numberResults, 'second-probability'),
    },
    tools: { pencil: byId('pencil'), eraser: byId('eraser'), undo: byId('undo'), clear: byId('clear') },
    model: byId('model'),
    modelDescription: byId('model-description'),
    results,
    status: byRole(results, 'status'),
    announce: byRole(results, 'announce'),
    downsampled: byRole(results, 'downsampled'),
    firstGuess: byRole(results, 'first-guess'),
    secondGuess: byRole(results, 'second-guess'),
    firstProbability: byRole(results, 'first-probability'),
    secondProbability: byRole(results, 'second-probability'),
    bars: Array.from(results.querySelectorAll('[data-role="bar"]'), (item) => ({
      item, fill: byRole(item, 'bar-fill'), value: byRole(item, 'bar-value'),
    })),
    layers: byRole(root, 'layers'),
    scales: { // legend bars, one colour scale each
      sequential: Array.from(root.querySelectorAll('[data-role="sequential-scale"]')),
      diverging: Array.from(root.querySelectorAll('[data-role="diverging-scale"]')),
    },
    unitDetail: byId('unit-detail'),
    correct: root.getElementById('correct'), // absent when the server keeps no corrections
    why: byId('why'),
    whyOverlay: byRole(results, 'why-overlay'),
    config: JSON.parse(byId('page-config').textContent),
  };
}

export function percent(p) {
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
    els.downsampled.getContext('2d').clearRect(0, 0, els.downsampled.width, els.downsampled.height);
    this.#bars(new Array(10).fill(0));
  }

  /** The drawing changed since the guesses shown were made. */
  pending() {
    const results = this.#els.results;
    if (results.dataset.state === 'pending') return; // as it is: nothing to restyle at pen-up
    if (results.dataset.state === 'empty') this.#els.status.textContent = 'Reading your drawing…';
    results.dataset.state = 'pending';
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
    drawInput(els.downsampled, answer.input);
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
    this.#els.bars.forEach(({ item, fill, value }, d) => {
      const p = probabilities[d];
      item.dataset.probability = p.toFixed(4);
      item.classList.toggle('leading', p > 0 && p === top);
      fill.style.transform = `scaleX(${p})`;
      value.textContent = p > 0 ? percent(p) : '';
    });
  }
}

/** What the network saw ({width, height, bits}), pixel for pixel, on a canvas. */
export function drawInput(canvas, { width, height, bits }) {
  if (canvas.width !== width || canvas.height !== height) [canvas.width, canvas.height] = [width, height];
  const ctx = canvas.getContext('2d');
  const bytes = bitsToBytes(bits);
  const image = ctx.createImageData(width, height);
  for (let i = 0; i < bytes.length; i++) {
    image.data[i * 4 + 3] = bytes[i]; // black ink where the bit is set, clear elsewhere
  }
  ctx.putImageData(image, 0, 0);
}
