/**
 * What the lab shows of a run besides its curves: the first layer's weights as images, one digit's
 * probabilities over time, and at the end the confusion matrix and the misread digits.
 */

import { element } from '../dom.js';
import { DIVERGING, LUT_SIZE, SEQUENTIAL, cssColour, prefersDarkText } from '../colors.js';
import { bitsToBytes, decodeBytes } from '../network.js';

const SIDE = 28;
const PROBE_COLUMNS = 240; // moments a probability strip keeps: older ones are merged, two into one

/** Draws 784 bits ("0"/"1") as black ink on a 28x28 canvas. */
export function drawBits(canvas, bits) {
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(SIDE, SIDE);
  bitsToBytes(bits).forEach((byte, i) => { image.data[i * 4 + 3] = byte; });
  ctx.putImageData(image, 0, 0);
}

function percent(p) {
  return `${(100 * p).toFixed(1)} %`;
}

/** One run's first-layer weights: templates, hidden units or kernels, on the diverging scale. */
export class WeightsView {
  #section;
  #grid;
  #caption;
  #canvases = [];

  constructor(container, title) {
    this.#caption = element('p', { className: 'weights-caption' });
    this.#grid = element('div', { className: 'weights-grid' });
    this.#section = element('section', { className: 'weights-run', 'aria-label': title }, [
      element('h3', { textContent: title }), this.#caption, this.#grid]);
    container.append(this.#section);
  }

  remove() { this.#section.remove(); }

  /** A progress event's `weights`. */
  show(weights, architecture) {
    const [count, height, width] = weights.shape;
    if (this.#canvases.length !== count || this.#canvases[0]?.width !== width) {
      this.#canvases = Array.from({ length: count }, (_, i) => {
        const canvas = element('canvas', { width, height, role: 'img' });
        canvas.setAttribute('aria-label', `${this.#unitName(architecture, i)}`);
        return canvas;
      });
      this.#grid.replaceChildren(...this.#canvases.map((canvas, i) => element('figure', {}, [
        canvas, element('figcaption', { textContent: this.#unitLabel(architecture, i) })])));
      this.#grid.dataset.kind = height === SIDE ? 'templates' : 'kernels';
    }
    const bytes = decodeBytes(weights.data);
    const per = width * height;
    this.#canvases.forEach((canvas, u) => {
      const ctx = canvas.getContext('2d');
      const image = ctx.createImageData(width, height);
      for (let i = 0; i < per; i++) {
        const lut = Math.round((bytes[u * per + i] / 255) * (LUT_SIZE - 1)) * 3;
        image.data.set([DIVERGING[lut], DIVERGING[lut + 1], DIVERGING[lut + 2], 255], i * 4);
      }
      ctx.putImageData(image, 0, 0);
    });
    const what = architecture === 'logreg' ? 'the ten digit templates of softmax regression'
      : architecture === 'cnn' ? `the ${count} kernels of the first convolution`
        : `the first ${count} of ${weights.units} hidden units' weights on the pixels`;
    this.#caption.textContent = `${what[0].toUpperCase()}${what.slice(1)}: orange adds, blue subtracts (scale ±${weights.scale.toPrecision(2)}).`;
  }

  #unitLabel(architecture, i) {
    return architecture === 'logreg' ? String(i) : String(i + 1);
  }

  #unitName(architecture, i) {
    if (architecture === 'logreg') return `Template of digit ${i}`;
    return architecture === 'cnn' ? `Kernel ${i + 1}` : `Hidden unit ${i + 1}`;
  }
}

/** The probe digit's ten probabilities over time, one column a moment, a row a digit (0 at the top). */
export class ProbeStrip {
  #canvas;
  #text;
  #figure;
  #columns = [];

  constructor(container, title, label) {
    this.label = label;
    this.#canvas = element('canvas', { width: 1, height: 10, role: 'img' });
    this.#canvas.setAttribute('aria-label', `${title}: no probabilities yet`);
    this.#text = element('p', { className: 'probe-now' });
    this.#figure = element('div', { className: 'probe-strip' }, [element('span', { className: 'strip-title', textContent: title }), this.#canvas, this.#text]);
    container.append(this.#figure);
    this.title = title;
  }

  remove() { this.#figure.remove(); }

  add(probabilities) {
    this.#columns.push(probabilities);
    if (this.#columns.length > PROBE_COLUMNS) { // merge neighbours, two moments into one: the strip stays bounded
      this.#columns = this.#columns.reduce((merged, column, i, all) => {
        if (i % 2 === 0) merged.push(i + 1 < all.length ? column.map((p, d) => (p + all[i + 1][d]) / 2) : column);
        return merged;
      }, []);
    }
    this.#draw();
    const best = probabilities.indexOf(Math.max(...probabilities));
    const right = probabilities[this.label];
    this.#text.textContent = `Now: reads it as ${best} (${percent(probabilities[best])}); the right digit, ${this.label}, has ${percent(right)}.`;
    this.#canvas.setAttribute('aria-label', `${this.title}: ${this.#text.textContent}`);
  }

  #draw() {
    const canvas = this.#canvas;
    canvas.width = this.#columns.length;
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(canvas.width, 10);
    this.#columns.forEach((column, x) => {
      column.forEach((p, d) => {
        const lut = Math.round(Math.min(1, Math.max(0, p)) * (LUT_SIZE - 1)) * 3;
        image.data.set([SEQUENTIAL[lut], SEQUENTIAL[lut + 1], SEQUENTIAL[lut + 2], 255], (d * canvas.width + x) * 4);
      });
    });
    ctx.putImageData(image, 0, 0);
  }
}

/** The validation confusion matrix as a table: counts, shaded by the share of each true digit's row. */
export function confusionTable(confusion, caption) {
  const head = element('tr', {}, [element('th', { scope: 'col', textContent: 'true \\ read' }),
    ...confusion.map((_, d) => element('th', { scope: 'col', textContent: String(d) }))]);
  const rows = confusion.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return element('tr', {}, [element('th', { scope: 'row', textContent: String(t) }), ...row.map((count, g) => {
      const share = count / total;
      const cell = element('td', { textContent: String(count) });
      cell.style.backgroundColor = cssColour(SEQUENTIAL, share);
      cell.classList.toggle('dark-text', prefersDarkText(SEQUENTIAL, share));
      if (t === g) cell.classList.add('diagonal');
      return cell;
    })]);
  });
  return element('table', { className: 'confusion' }, [
    element('caption', { textContent: caption }), element('thead', {}, [head]), element('tbody', {}, rows)]);
}

/** The misread validation digits, each with what it is and what the network read. */
export function misreadGrid(misread) {
  return element('ul', { className: 'misread' }, misread.map((m) => {
    const canvas = element('canvas', { width: SIDE, height: SIDE, role: 'img' });
    canvas.setAttribute('aria-label', `A ${m.label} read as ${m.guess}`);
    drawBits(canvas, m.bits);
    return element('li', {}, [canvas, element('span', { textContent: `${m.label} → ${m.guess}, ${Math.round(m.probability * 100)}%` })]);
  }));
}

export { element, percent };
