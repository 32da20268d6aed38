/**
 * What a unit learned, in the unit detail panel: the nine MNIST test digits that excite it most (for a
 * feature map with the window its strongest position sees outlined) and its optimal stimulus, the input
 * gradient ascent found to excite it most. Read from GET .../units/{index}/stimuli.
 */

import { bitsToBytes, unitIndex } from './network.js';

const SIDE = 28;

/** The API's unit number for stimuli: a conv or pool unit is its whole feature map. */
export function stimulusUnit(layer, geometry, address) {
  return layer.shape.length === 3 ? address.map : unitIndex(geometry, address);
}

function digitCanvas(paint) {
  const canvas = document.createElement('canvas');
  canvas.width = SIDE;
  canvas.height = SIDE;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) image.data.set([0, 0, 0, paint(i)], i * 4); // dark ink, clear paper
  ctx.putImageData(image, 0, 0);
  canvas.setAttribute('role', 'img');
  return canvas;
}

function formatValue(value) {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

export class StimuliView {
  #root;
  #top;
  #optimal;
  #caption;
  #note;

  constructor(root) {
    this.#root = root;
    this.#top = root.querySelector('[data-role="top-stimuli"]');
    this.#optimal = root.querySelector('[data-role="optimal"]');
    this.#caption = root.querySelector('[data-role="optimal-caption"]');
    this.#note = root.querySelector('[data-role="stimuli-note"]');
  }

  reset() {
    this.#root.hidden = true;
    this.#root.dataset.state = 'empty';
    this.#top.replaceChildren();
    this.#optimal.replaceChildren();
  }

  loading() {
    this.#root.hidden = false;
    this.#root.dataset.state = 'pending';
    this.#top.replaceChildren();
    this.#optimal.replaceChildren();
    this.#note.textContent = 'Loading what this unit learned…';
  }

  /** A unit's stimuli; `digitName` is set for an output unit ("the network's ideal 3"). */
  show(stimuli, digitName = null) {
    this.#root.hidden = false;
    this.#root.dataset.state = 'done';
    this.#top.replaceChildren(...stimuli.top.map((item) => this.#topItem(item)));
    const optimal = stimuli.optimal.map.flat();
    const canvas = digitCanvas((i) => Math.round(optimal[i] * 255));
    const what = digitName === null ? 'Optimal stimulus' : `The network's ideal ${digitName}`;
    canvas.setAttribute('aria-label', `${what}: the input that excites this unit most (value ${formatValue(stimuli.optimal.activation)})`);
    this.#optimal.replaceChildren(canvas);
    this.#caption.textContent = `${what}: the input gradient ascent found to excite it most (value ${formatValue(stimuli.optimal.activation)})`;
    const boxed = stimuli.top.some((item) => item.box);
    this.#note.textContent = boxed
      ? 'Outlined: the part of each digit the map’s strongest position sees.'
      : '';
  }

  error(message) {
    this.#root.hidden = false;
    this.#root.dataset.state = 'error';
    this.#top.replaceChildren();
    this.#optimal.replaceChildren();
    this.#note.textContent = message;
  }

  #topItem(item) {
    const ink = bitsToBytes(item.bits);
    const canvas = digitCanvas((i) => ink[i]);
    const number = item.source.split(':')[1];
    canvas.setAttribute('aria-label', `MNIST test digit ${number}, a ${item.label}: value ${formatValue(item.activation)}`);
    const cell = document.createElement('span');
    cell.className = 'stimulus';
    cell.title = `MNIST test digit ${number} (a ${item.label}), value ${formatValue(item.activation)}`;
    cell.append(canvas);
    if (item.box) {
      const [x, y, w, h] = item.box;
      const box = document.createElement('span');
      box.className = 'stimulus-box';
      Object.assign(box.style, {
        left: `${(x / SIDE) * 100}%`, top: `${(y / SIDE) * 100}%`, width: `${(w / SIDE) * 100}%`, height: `${(h / SIDE) * 100}%`,
      });
      cell.append(box);
    }
    return cell;
  }
}
