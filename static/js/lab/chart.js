/**
 * A small line chart on a canvas: a few series of (x, y) points, axes with round ticks, redrawn at most
 * once a frame, sharp at any pixel ratio, in the page's own colours (light or dark).
 */

const PAD = { left: 48, right: 12, top: 10, bottom: 30 }; // CSS pixels around the plot for the axes
const TICKS = 5; // about this many ticks an axis
const FONT = '12px system-ui, sans-serif';

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function ticks(lo, hi, count = TICKS) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function cssVar(element, name, fallback) {
  return getComputedStyle(element).getPropertyValue(name).trim() || fallback;
}

export class LineChart {
  #canvas;
  #options;
  #series = [];
  #frame = 0;

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{x: {min?: number, max?: number, label: string, format?: Function},
   *          y: {min?: number, max?: number, floor?: number, label: string, format?: Function}}} options
   *   `y.floor`: values below it are drawn at it (a diverging run would squash every other line).
   */
  constructor(canvas, options) {
    this.#canvas = canvas;
    this.#options = options;
    new ResizeObserver(() => this.redraw()).observe(canvas);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.redraw());
  }

  /** Series: [{label, colour, dash: number[], points: [[x, y], ...], markers: boolean}] */
  set series(series) {
    this.#series = series;
    this.redraw();
  }

  redraw() {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#draw();
    });
  }

  #bounds() {
    const { x, y } = this.#options;
    const all = this.#series.flatMap((s) => s.points);
    const xs = all.map((p) => p[0]);
    const ys = all.map((p) => Math.max(p[1], y.floor ?? -Infinity));
    let [x0, x1] = [x.min ?? Math.min(...xs, 0), x.max ?? Math.max(...xs, 1)];
    let [y0, y1] = [y.min ?? Math.min(...ys), y.max ?? Math.max(...ys)];
    if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
    if (y1 - y0 < 1e-6) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    if (x1 <= x0) x1 = x0 + 1;
    return { x0, x1, y0, y1 };
  }

  #draw() {
    const canvas = this.#canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const text = cssVar(canvas, '--text', '#16191f');
    const grid = cssVar(canvas, '--border', '#cfd5dd');
    const { x0, x1, y0, y1 } = this.#bounds();
    const { x: xAxis, y: yAxis } = this.#options;
    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    const px = (v) => PAD.left + ((v - x0) / (x1 - x0)) * plotW;
    const py = (v) => PAD.top + (1 - (Math.max(v, yAxis.floor ?? -Infinity) - y0) / (y1 - y0)) * plotH;

    ctx.font = FONT;
    ctx.fillStyle = text;
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of ticks(y0, y1)) {
      const y = Math.round(py(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.left, y);
      ctx.lineTo(PAD.left + plotW, y);
      ctx.stroke();
      ctx.fillText((yAxis.format ?? String)(v), PAD.left - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of ticks(x0, x1).filter((t) => !xAxis.integer || Number.isInteger(t))) {
      ctx.fillText((xAxis.format ?? String)(v), px(v), PAD.top + plotH + 4);
    }
    ctx.fillText(xAxis.label, PAD.left + plotW / 2, PAD.top + plotH + 16);

    ctx.save();
    ctx.beginPath();
    ctx.rect(PAD.left, PAD.top - 2, plotW, plotH + 4);
    ctx.clip();
    for (const s of this.#series) {
      ctx.strokeStyle = s.colour;
      ctx.fillStyle = s.colour;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dash ?? []);
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
      ctx.stroke();
      ctx.setLineDash([]);
      if (s.markers) {
        for (const [x, y] of s.points) {
          ctx.beginPath();
          if (s.square) ctx.rect(px(x) - 3, py(y) - 3, 6, 6);
          else ctx.arc(px(x), py(y), 3, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    ctx.restore();
  }
}
