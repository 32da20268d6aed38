/**
 * The inside of the network: one panel per layer, each unit drawn with its activation (feature
 * maps as small heatmaps, dense layers as grids of cells, the output as ten labelled cells), each
 * panel with a Show/Hide toggle. Pointing at a unit (mouse, touch or arrow keys) selects it and
 * outlines the units of the layer below that feed it.
 */

import { afterPaint, element } from './dom.js';
import { LUT_SIZE, SEQUENTIAL, cssColour, prefersDarkText } from './colors.js';
import {
  decodeLayer, layout, receptiveField, unitAddress, unitIndex,
} from './network.js';

const MAP_PIXELS_PER_UNIT = 3; // CSS pixels per unit of a feature map...
const MAP_MIN_PX = 32; // ...within these bounds, so small maps stay visible and large ones fit
const MAP_MAX_PX = 72;
const INPUT_PX = 140;
const GRID_CELL_PX = 20;
const SVG = 'http://www.w3.org/2000/svg';
// The sequential scale as whole pixels (red, green, blue, opaque), in the byte order of a Uint32Array
// over ImageData, so a unit's colour is one lookup and one store.
const SEQUENTIAL_PIXELS = (() => {
  const bytes = new Uint8Array(LUT_SIZE * 4);
  for (let i = 0; i < LUT_SIZE; i++) bytes.set([...SEQUENTIAL.subarray(i * 3, i * 3 + 3), 255], i * 4);
  return new Uint32Array(bytes.buffer);
})();

function describeShape(layer, geometry) {
  if (layer.kind === 'output') return `${geometry.count} digits`;
  if (geometry.grid) return `${geometry.count} units`;
  const size = `${geometry.height}×${geometry.width}`;
  return geometry.maps > 1 ? `${geometry.maps} maps of ${size}` : size;
}

function formatRange(min, max) {
  return `${min.toFixed(2)} to ${max.toFixed(2)}`;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Sets a node's text only when it differs: writing the same text still makes the page lay out again. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export class NetworkView extends EventTarget {
  #container;
  #model = null;
  // per layer: {layer, geometry, section, body, maps: [{wrap, canvas, marks, ctx, image, pixels, drawn}],
  // cells, range, data, stale}; `drawn` is the bytes a map shows, `stale` a hidden panel's missed update
  #panels = [];
  #selection = null; // {layerIndex, address}
  #strongest = null; // {layerIndex, key}: the inputs outlined for the selected unit
  #selectedMark = null; // the outline of the selected unit on its map, where the links start
  #links = document.createElementNS(SVG, 'svg'); // node-link lines from a unit to its strongest inputs
  #list = document.createElement('div');
  #next = null; // {layers}: what to show after the next paint (null layers for none), while it waits

  constructor(container) {
    super();
    this.#container = container;
    this.#links.classList.add('links');
    this.#links.setAttribute('aria-hidden', 'true');
    this.#list.className = 'layer-list';
    // Lines are drawn between boxes on screen, so any change of layout makes them wrong: drop them.
    new ResizeObserver(() => this.#links.replaceChildren()).observe(this.#list);
  }

  get model() { return this.#model; }

  /** Lays out an empty panel for every layer of a model (from GET /api/models). */
  build(model) {
    this.#model = model;
    this.#selection = null;
    this.#next = null;
    this.#panels = model.layers.map((layer, index) => this.#buildPanel(layer, index));
    this.#list.replaceChildren(...this.#panels.map((p) => p.section));
    this.#links.replaceChildren();
    this.#container.replaceChildren(this.#list, this.#links);
  }

  /**
   * Shows the activations of a prediction (its `layers`) once the page has painted what it changed with
   * them, so the guess they came with is on screen first rather than waiting for a hundred maps to be
   * drawn. All at once, in one frame, and only the newest of those given meanwhile: only the maps and
   * cells whose values changed are drawn again, hidden panels when shown, and the selection and its
   * outlines stay as they are, with the selected unit's new value announced.
   */
  update(layers) {
    this.#showAfterPaint(layers);
  }

  clear() {
    this.#showAfterPaint(null);
  }

  #showAfterPaint(layers) {
    const scheduled = this.#next !== null;
    this.#next = { layers };
    if (scheduled) return;
    afterPaint(() => {
      const next = this.#next;
      this.#next = null;
      if (next) this.#show(next.layers); // none when a new model was laid out meanwhile
    });
  }

  #show(layers) {
    const byName = new Map((layers ?? []).map((l) => [l.name, l]));
    for (const panel of this.#panels) {
      const layer = byName.get(panel.layer.name);
      panel.data = layer ? decodeLayer(layer) : null;
      this.#paint(panel);
    }
    if (this.#selection) this.#announce();
  }

  /** Outlines units of the layer below the selection, e.g. those with the strongest weights. */
  markStrongest(selection, indices, values) {
    if (!this.#isCurrent(selection) || selection.layerIndex === 0) return;
    const key = indices.join(',');
    if (this.#strongest?.layerIndex === selection.layerIndex && this.#strongest.key === key) return; // shown
    this.#strongest = { layerIndex: selection.layerIndex, key };
    const below = this.#panels[selection.layerIndex - 1];
    const rects = indices.map((i) => {
      const { map, x, y } = unitAddress(below.geometry, i);
      return { map, x, y, w: 1, h: 1, kind: values[i] >= 0 ? 'positive' : 'negative' };
    });
    const marks = this.#mark(below, rects, true);
    this.#link(this.#panels[selection.layerIndex], marks);
  }

  #link(panel, targets) {
    const from = panel.layer.kind === 'output' ? panel.cells[this.#selection.address.x].cell : this.#selectedMark;
    if (!from || panel.body.hidden || targets.length === 0 || targets[0].closest('[hidden]')) return;
    const origin = this.#container.getBoundingClientRect();
    const centre = (el, side) => {
      const box = el.getBoundingClientRect();
      return [box.left + box.width / 2 - origin.left, (side === 'top' ? box.top : box.top + box.height / 2) - origin.top];
    };
    const [x1, y1] = centre(from, 'top');
    this.#links.replaceChildren(...targets.map((target) => {
      const [x2, y2] = centre(target, 'middle');
      const line = document.createElementNS(SVG, 'line');
      for (const [name, value] of Object.entries({ x1, y1, x2, y2 })) line.setAttribute(name, String(value));
      line.setAttribute('class', target.classList.contains('negative') ? 'negative' : 'positive');
      return line;
    }));
  }

  #isCurrent(selection) {
    const current = this.#selection;
    return current && current.layerIndex === selection.layerIndex
      && unitIndex(this.#panels[current.layerIndex].geometry, current.address) === selection.index;
  }

  #buildPanel(layer, index) {
    const geometry = layout(layer);
    const { title } = layer;
    const bodyId = `layer-body-${layer.name}`;
    const titleId = `layer-title-${layer.name}`;
    const word = element('span', { className: 'toggle-word', textContent: 'Hide' });
    const toggle = element('button', {
      type: 'button', className: 'toggle', 'aria-expanded': 'true', 'aria-controls': bodyId,
      dataset: { role: 'toggle', testid: `toggle-${layer.name}` },
    }, [word, element('span', { className: 'visually-hidden', textContent: ` ${title}` })]);
    const range = element('span', { className: 'layer-range' });
    const header = element('header', { className: 'layer-head' }, [
      element('h3', { id: titleId }, [title, ' ', element('span', { className: 'layer-shape', textContent: describeShape(layer, geometry) })]),
      range, toggle,
    ]);
    const body = element('div', {
      id: bodyId, className: `layer-body kind-${layer.kind}`, tabIndex: 0, role: 'group',
      'aria-label': `${title}: point at a unit, or use the arrow keys, to see what feeds it`,
      dataset: { role: 'layer-body', testid: `layer-${layer.name}` },
    });
    const panel = {
      layer, geometry, index, body, range, section: null, data: null, maps: [], cells: [], stale: false,
    };
    if (layer.kind === 'output') {
      const row = element('div', { className: 'digits' });
      for (let d = 0; d < geometry.count; d++) {
        const value = element('span', { className: 'digit-value', textContent: '–' });
        const cell = element('div', { className: 'digit-cell', dataset: { role: 'digit', unit: String(d) } }, [
          element('span', { className: 'digit-label', textContent: String(d) }), value]);
        panel.cells.push({ cell, value, background: '' });
        row.append(cell);
      }
      body.append(row);
    } else {
      const list = element('div', { className: 'maps' });
      const px = layer.kind === 'input' ? INPUT_PX
        : geometry.grid ? null : Math.max(MAP_MIN_PX, Math.min(MAP_MAX_PX, geometry.width * MAP_PIXELS_PER_UNIT));
      for (let m = 0; m < geometry.maps; m++) {
        const canvas = element('canvas', { width: geometry.width, height: geometry.height });
        const marks = element('div', { className: 'marks' });
        const wrap = element('div', {
          className: geometry.grid ? 'map grid' : 'map', dataset: { role: 'map', map: String(m) },
        }, [canvas, marks]);
        if (px) wrap.style.setProperty('--map-size', `${px}px`);
        else wrap.style.setProperty('--map-size', `${geometry.width * GRID_CELL_PX}px`);
        wrap.style.setProperty('--map-ratio', `${geometry.width} / ${geometry.height}`);
        const ctx = canvas.getContext('2d');
        const image = ctx.createImageData(geometry.width, geometry.height);
        panel.maps.push({ wrap, canvas, marks, ctx, image, pixels: new Uint32Array(image.data.buffer), drawn: null });
        list.append(wrap);
      }
      body.append(list);
    }
    toggle.addEventListener('click', () => {
      const show = body.hidden;
      body.hidden = !show;
      toggle.setAttribute('aria-expanded', String(show));
      word.textContent = show ? 'Hide' : 'Show';
      if (show && panel.stale) this.#paint(panel);
    });
    body.addEventListener('pointermove', (e) => {
      if (e.pointerType === 'mouse' || e.pointerType === 'pen') this.#pointAt(panel, e);
    });
    body.addEventListener('pointerdown', (e) => this.#pointAt(panel, e));
    body.addEventListener('keydown', (e) => this.#onKey(panel, e));
    panel.section = element('section', { className: 'layer', 'aria-labelledby': titleId }, [header, body]);
    return panel;
  }

  #paint(panel) {
    if (panel.body.hidden) {
      panel.stale = true;
      return;
    }
    panel.stale = false;
    const { data, geometry } = panel;
    setText(panel.range, data ? formatRange(data.min, data.max) : '');
    if (panel.layer.kind === 'output') {
      panel.cells.forEach((unit, d) => {
        const t = data ? data.value(d) : 0;
        const background = data ? cssColour(SEQUENTIAL, t) : '';
        if (unit.background !== background) {
          unit.background = background;
          unit.cell.style.backgroundColor = background;
        }
        unit.cell.classList.toggle('dark-text', Boolean(data) && prefersDarkText(SEQUENTIAL, t));
        setText(unit.value, data ? `${Math.round(t * 100)}%` : '–');
      });
      return;
    }
    const perMap = geometry.width * geometry.height;
    const count = geometry.grid ? geometry.count : perMap;
    panel.maps.forEach((map, m) => {
      const bytes = data ? data.bytes.subarray(m * perMap, m * perMap + count) : null;
      if (bytes === null ? map.drawn === null : map.drawn !== null && sameBytes(bytes, map.drawn)) return;
      if (bytes === null) {
        map.ctx.clearRect(0, 0, map.canvas.width, map.canvas.height);
      } else {
        for (let i = 0; i < count; i++) map.pixels[i] = SEQUENTIAL_PIXELS[bytes[i]];
        map.ctx.putImageData(map.image, 0, 0);
      }
      map.drawn = bytes && bytes.slice();
    });
  }

  #pointAt(panel, event) {
    const { geometry } = panel;
    let address;
    if (panel.layer.kind === 'output') {
      const cell = event.target.closest('[data-role="digit"]');
      if (!cell) return;
      address = { map: 0, y: 0, x: Number(cell.dataset.unit) };
    } else {
      const wrap = event.target.closest('[data-role="map"]');
      if (!wrap) return;
      const box = panel.maps[Number(wrap.dataset.map)].canvas.getBoundingClientRect();
      const x = Math.floor(((event.clientX - box.left) / box.width) * geometry.width);
      const y = Math.floor(((event.clientY - box.top) / box.height) * geometry.height);
      if (x < 0 || y < 0 || x >= geometry.width || y >= geometry.height) return;
      address = { map: Number(wrap.dataset.map), y, x };
    }
    if (geometry.grid && unitIndex(geometry, address) >= geometry.count) return;
    const current = this.#selection;
    if (current && current.layerIndex === panel.index && unitIndex(geometry, current.address) === unitIndex(geometry, address)) return;
    this.#select(panel.index, address);
  }

  #onKey(panel, event) {
    const { geometry } = panel;
    const steps = {
      ArrowRight: [0, 0, 1], ArrowLeft: [0, 0, -1], ArrowDown: [0, 1, 0], ArrowUp: [0, -1, 0],
      PageDown: [1, 0, 0], PageUp: [-1, 0, 0],
    };
    const step = steps[event.key];
    if (!step) return;
    event.preventDefault();
    const here = this.#selection?.layerIndex === panel.index ? this.#selection.address : null;
    const start = here ?? { map: 0, y: 0, x: 0 };
    const last = (geometry.grid ? geometry.count : geometry.maps * geometry.width * geometry.height) - 1;
    const clamp = (v, hi) => Math.max(0, Math.min(hi, v));
    const next = here ? {
      map: clamp(start.map + step[0], geometry.maps - 1),
      y: clamp(start.y + step[1], geometry.height - 1),
      x: clamp(start.x + step[2], geometry.width - 1),
    } : start;
    if (unitIndex(geometry, next) > last) return;
    this.#select(panel.index, next);
  }

  #select(layerIndex, address) {
    this.#selection = { layerIndex, address };
    this.#strongest = null;
    const panel = this.#panels[layerIndex];
    const below = this.#panels[layerIndex - 1] ?? null;
    for (const p of this.#panels) this.#mark(p, []);
    this.#links.replaceChildren();
    this.#selectedMark = null;
    if (panel.layer.kind === 'output') {
      panel.cells.forEach(({ cell }, d) => cell.classList.toggle('selected', d === address.x));
    } else {
      [this.#selectedMark] = this.#mark(panel, [{ ...address, w: 1, h: 1, kind: 'selected' }]);
    }
    if (below) {
      const field = receptiveField(panel.layer, below.layer, address)
        .map((r) => ({ ...r, kind: r.w === below.geometry.width && r.h === below.geometry.height ? 'all' : 'field' }));
      this.#mark(below, field);
    }
    this.#announce();
  }

  /** Tells listeners which unit is selected and its value now. */
  #announce() {
    const { layerIndex, address } = this.#selection;
    const panel = this.#panels[layerIndex];
    const below = this.#panels[layerIndex - 1] ?? null;
    const index = unitIndex(panel.geometry, address);
    this.dispatchEvent(new CustomEvent('select', {
      detail: {
        layerIndex, index, address, layer: panel.layer, below: below?.layer ?? null,
        geometry: panel.geometry, title: panel.layer.title, belowTitle: below?.layer.title ?? null,
        value: panel.data ? panel.data.value(index) : null,
      },
    }));
  }

  /** Outlines rectangles (in units) over a panel's maps, keeping those there when `add`; the outlines. */
  #mark(panel, rects, add = false) {
    if (panel.layer.kind === 'output') {
      if (!add) panel.cells.forEach(({ cell }) => cell.classList.remove('selected', 'field', 'positive', 'negative'));
      for (const r of rects) panel.cells[r.x]?.cell.classList.add(r.kind === 'all' ? 'field' : r.kind);
      return rects.map((r) => panel.cells[r.x]?.cell).filter(Boolean);
    }
    const boxes = [];
    if (!add) panel.maps.forEach(({ marks }) => marks.replaceChildren());
    const { width, height } = panel.geometry;
    for (const r of rects) {
      const target = panel.maps[r.map];
      if (!target) continue;
      const box = element('div', { className: `mark ${r.kind}` });
      box.style.left = `${(r.x / width) * 100}%`;
      box.style.top = `${(r.y / height) * 100}%`;
      box.style.width = `${(r.w / width) * 100}%`;
      box.style.height = `${(r.h / height) * 100}%`;
      target.marks.append(box);
      boxes.push(box);
    }
    return boxes;
  }
}
