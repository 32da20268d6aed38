/**
 * The unit detail panel: a unit's activation, and for units with weights the weights feeding it
 * (kernels, or a template shaped like the layer below) on a diverging scale, and its bias. On a narrow
 * screen it is a bottom sheet that can be collapsed to its heading and closed (Escape too).
 */

import { DIVERGING, LUT_SIZE } from './colors.js';
import { layout } from './network.js';

const KERNEL_PX = 44;
const TEMPLATE_PX = 168;
const GRID_CELL_PX = 9;
const SINGLE_KERNEL_PX = 112;
const TEMPLATE_MIN_UNITS = 20; // a weight image this wide is a whole-input template, drawn large

function describeUnit({ layer, address, geometry }) {
  if (layer.kind === 'output') return `digit ${address.x}`;
  if (geometry.grid) return `unit ${address.y * geometry.width + address.x}`;
  const where = `row ${address.y + 1}, column ${address.x + 1}`;
  return geometry.maps > 1 ? `map ${address.map + 1}, ${where}` : where;
}

function explain({ layer, below, belowTitle }, weights) {
  switch (layer.kind) {
    case 'input': return 'A pixel of the downsampled drawing: 1 where there is ink.';
    case 'pool': return `The largest of the ${layer.size}×${layer.size} window outlined in ${belowTitle}.`;
    case 'conv': {
      const area = `the outlined ${layer.kernel}×${layer.kernel} window`;
      return layout(below).maps > 1
        ? `Sums ${area} of every map in ${belowTitle}, each weighted by its own kernel below.`
        : `Sums ${area} of ${belowTitle}, weighted by the kernel below.`;
    }
    default:
      return weights && weights.shape.length === 2
        ? `Weighs every pixel of ${belowTitle}: this template shows what it looks for (orange adds, blue subtracts).`
        : `Weighs every unit of ${belowTitle}; the strongest weights are outlined there.`;
  }
}

export class UnitDetail {
  #container;
  #heading;
  #what;
  #value;
  #bias;
  #weights;
  #legend;
  #collapse;

  constructor(container) {
    this.#container = container;
    this.#collapse = container.querySelector('[data-role="collapse"]');
    this.#collapse.addEventListener('click', () => this.setCollapsed(this.#container.dataset.collapsed !== 'true'));
    container.querySelector('[data-role="close"]').addEventListener('click', () => this.close());
    this.#heading = container.querySelector('[data-role="heading"]');
    this.#what = container.querySelector('[data-role="what"]');
    this.#value = container.querySelector('[data-role="value"]');
    this.#bias = container.querySelector('[data-role="bias"]');
    this.#weights = container.querySelector('[data-role="weights"]');
    this.#legend = container.querySelector('[data-role="legend"]');
  }

  reset() {
    this.#container.dataset.filled = 'false';
    this.#heading.textContent = 'Point at a unit';
    this.#what.textContent = 'Hover over or tap any unit in the network to see its value, the weights feeding it and what it learned.';
    this.#value.textContent = '–';
    this.#bias.textContent = '–';
    this.#weights.replaceChildren();
    this.#legend.hidden = true;
  }

  get isOpen() {
    return this.#container.dataset.open === 'true' && this.#container.dataset.filled === 'true';
  }

  /** Closes the panel (a bottom sheet on a narrow screen) until the next unit is chosen. */
  close() {
    const hadFocus = this.#container.contains(document.activeElement);
    this.#container.dataset.open = 'false';
    this.#container.dispatchEvent(new CustomEvent('close', { detail: { hadFocus } }));
  }

  setCollapsed(collapsed) {
    this.#container.dataset.collapsed = String(collapsed);
    this.#collapse.setAttribute('aria-expanded', String(!collapsed));
    this.#collapse.textContent = collapsed ? 'Expand' : 'Collapse';
  }

  /** A newly selected unit: what is known before its weights arrive. */
  show(selection) {
    this.#container.dataset.open = 'true';
    this.#container.dataset.filled = 'true';
    this.#container.dataset.layer = selection.layer.name;
    this.#heading.textContent = `${selection.title}: ${describeUnit(selection)}`;
    this.#what.textContent = explain(selection, null);
    this.setValue(selection.value);
    this.#bias.textContent = '–';
    this.#weights.replaceChildren();
    this.#legend.hidden = true;
  }

  setValue(value) {
    this.#value.textContent = value === null ? 'draw a digit first' : value.toFixed(3);
  }

  showWeights(selection, weights) {
    this.#what.textContent = explain(selection, weights);
    this.#bias.textContent = weights.bias.toFixed(3);
    const scale = Math.max(1e-12, -weights.min, weights.max); // the largest |weight|, from the unit's min and max
    const shape = weights.shape.length === 1 ? [weights.shape[0]] : weights.shape;
    const geometry = layout({ shape, kind: 'dense' });
    const perMap = geometry.width * geometry.height;
    let px = KERNEL_PX;
    if (geometry.grid) px = geometry.width * GRID_CELL_PX;
    else if (geometry.maps === 1) px = geometry.width >= TEMPLATE_MIN_UNITS ? TEMPLATE_PX : SINGLE_KERNEL_PX;
    const canvases = [];
    for (let m = 0; m < geometry.maps; m++) {
      const canvas = document.createElement('canvas');
      canvas.width = geometry.width;
      canvas.height = geometry.height;
      canvas.style.width = `${px}px`;
      const ctx = canvas.getContext('2d');
      const image = ctx.createImageData(geometry.width, geometry.height);
      const count = Math.min(perMap, weights.weights.length - m * perMap);
      for (let i = 0; i < count; i++) {
        const t = (weights.weights[m * perMap + i] / scale + 1) / 2;
        const lut = Math.round(t * (LUT_SIZE - 1)) * 3;
        image.data.set([DIVERGING[lut], DIVERGING[lut + 1], DIVERGING[lut + 2], 255], i * 4);
      }
      ctx.putImageData(image, 0, 0);
      canvases.push(canvas);
    }
    this.#weights.replaceChildren(...canvases);
    this.#weights.dataset.count = String(canvases.length);
    this.#legend.hidden = false;
    this.#legend.querySelector('[data-role="scale"]').textContent = `±${scale.toPrecision(2)}`;
  }

  showError(message) {
    this.#what.textContent = message;
  }
}
