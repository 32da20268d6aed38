/**
 * The drawing pad: a canvas drawn on with mouse, finger or pen. Strokes are kept as fractions of the
 * pad's width and height, so the pad redraws sharply at any size and pixel ratio, undo is a replay, and
 * the drawing sent to the network is rendered at one fixed size whatever the screen. A pad is square
 * (one digit) or wide (a number); its pen is a fraction of its height either way.
 */

export const TOOLS = Object.freeze({ PENCIL: 'pencil', ERASER: 'eraser' });

const ERASER_SCALE = 2.5; // the eraser is wider than the pen: rubbing out should be easy
const INK = '#111';

export class DrawingPad extends EventTarget {
  #canvas;
  #ctx;
  #penWidth;
  #width; // of the image sent, in pixels
  #height;
  #ink; // what the server counts as ink, and as too little ink to be a digit
  #strokes = [];
  #active = null; // the stroke being drawn and the pointer drawing it
  // Where the canvas is on screen, taken once a stroke: asked at every move, it would make the page lay
  // out again after each guess shown while drawing. Retaken when the page scrolls or resizes mid-stroke.
  #box = null;
  #tool = TOOLS.PENCIL;
  #version = 0;
  #exportCanvas = document.createElement('canvas');

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} settings  the server's (the page config's `pad`), so both agree on what a digit is
   * @param {number} settings.size  side of the image sent to the network, in pixels
   * @param {number} [settings.width]  or its width and height, for a pad that is not square
   * @param {number} [settings.height]
   * @param {number} settings.penWidth  pen diameter as a fraction of the height
   * @param {number} settings.inkAlpha  the alpha a pixel needs to count as ink
   * @param {number} settings.minExtent  ink spanning less than this fraction of the shorter side...
   * @param {number} settings.minExtentPx  ...or these pixels is a speck, not a digit
   */
  constructor(canvas, { size, width = size, height = size, penWidth, inkAlpha, minExtent, minExtentPx }) {
    super();
    this.#canvas = canvas;
    this.#ctx = canvas.getContext('2d');
    this.#penWidth = penWidth;
    this.#width = width;
    this.#height = height;
    this.#ink = { alpha: inkAlpha, minExtent, minExtentPx };
    this.#exportCanvas.width = width;
    this.#exportCanvas.height = height;
    canvas.addEventListener('pointerdown', (e) => this.#onDown(e));
    canvas.addEventListener('pointermove', (e) => this.#onMove(e));
    canvas.addEventListener('pointerup', (e) => this.#onUp(e));
    canvas.addEventListener('pointercancel', (e) => this.#onUp(e));
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    new ResizeObserver(() => {
      this.#box = null;
      this.#resize();
    }).observe(canvas);
    const moved = () => { this.#box = null; };
    addEventListener('scroll', moved, { capture: true, passive: true });
    addEventListener('resize', moved, { passive: true });
    this.#resize();
  }

  get tool() { return this.#tool; }

  set tool(tool) {
    this.#tool = tool;
    this.#canvas.dataset.tool = tool;
    this.#emit('toolchange');
  }

  /** Increases on every change to the drawing, so an answer can be matched to what was drawn. */
  get version() { return this.#version; }

  get canUndo() { return this.#strokes.length > 0; }

  get drawing() { return this.#active !== null; }

  undo() {
    if (!this.#strokes.length) return;
    this.#cancelActive();
    this.#strokes.pop();
    this.#changed('change');
  }

  /** Clearing is a step of its own, so Undo brings the drawing back. */
  clear() {
    this.#cancelActive();
    const last = this.#strokes.at(-1);
    if (!this.#strokes.length || last.tool === 'clear') return;
    this.#strokes.push({ tool: 'clear', points: [] });
    this.#changed('change');
  }

  /**
   * The drawing at the network's size: null when there is no digit on it, else its ink: the pixels
   * (ImageData) of a box that holds all of it, where that box lies, and the size of the whole image,
   * which is clear outside the box. Only the box is read back from the canvas, and only the box is
   * what the encoder looks at.
   * @returns {{pixels: ImageData, left: number, top: number, width: number, height: number} | null}
   */
  snapshot() {
    const ctx = this.#exportCanvas.getContext('2d', { willReadFrequently: true });
    const width = this.#width;
    const height = this.#height;
    const drawn = this.#render(ctx, width, height);
    const box = inkBox(drawn, width, height, this.#penWidth * height);
    if (box === null) return null;
    const pixels = ctx.getImageData(box.left, box.top, box.width, box.height);
    return this.#holdsDigit(pixels) ? { pixels, left: box.left, top: box.top, width, height } : null;
  }

  /** The size of the image `snapshot` gives, in pixels. */
  get imageSize() { return { width: this.#width, height: this.#height }; }

  /** Whether ink spans enough of the image to be a digit rather than a speck, as the server tests it. */
  #holdsDigit(pixels) {
    const { alpha, minExtent, minExtentPx } = this.#ink;
    return inkExtent(pixels, alpha) >= Math.max(minExtentPx, minExtent * Math.min(this.#width, this.#height));
  }

  #resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(this.#canvas.clientWidth * ratio);
    const height = Math.round(this.#canvas.clientHeight * ratio);
    if (width > 0 && height > 0 && (width !== this.#canvas.width || height !== this.#canvas.height)) {
      this.#canvas.width = width;
      this.#canvas.height = height;
      this.#render(this.#ctx, width, height);
    }
  }

  #point(event) {
    this.#box ??= this.#canvas.getBoundingClientRect();
    const box = this.#box;
    return [(event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height];
  }

  #onDown(event) {
    if (!event.isPrimary || this.#active || (event.pointerType === 'mouse' && event.button !== 0)) return;
    event.preventDefault();
    this.#canvas.setPointerCapture(event.pointerId);
    this.#box = null; // the page may have moved since the last stroke
    const tool = event.pointerType === 'pen' && event.button === 5 ? TOOLS.ERASER : this.#tool;
    this.#active = { stroke: { tool, points: [this.#point(event)] }, pointerId: event.pointerId };
    this.#strokes.push(this.#active.stroke);
    drawStroke(this.#ctx, this.#active.stroke, this.#canvas.width, this.#canvas.height, this.#penWidth);
    this.#changed('strokestart');
  }

  #onMove(event) {
    if (!this.#active || event.pointerId !== this.#active.pointerId) return;
    const { stroke } = this.#active;
    const events = event.getCoalescedEvents?.() ?? [event];
    const from = stroke.points.length - 1;
    for (const e of events.length ? events : [event]) stroke.points.push(this.#point(e));
    drawStroke(this.#ctx, stroke, this.#canvas.width, this.#canvas.height, this.#penWidth, from);
    this.#changed('strokechange');
  }

  #onUp(event) {
    if (!this.#active || event.pointerId !== this.#active.pointerId) return;
    this.#active = null;
    this.#emit('strokeend');
  }

  #cancelActive() {
    if (this.#active) {
      this.#canvas.releasePointerCapture?.(this.#active.pointerId);
      this.#active = null;
    }
  }

  #changed(type) {
    this.#version += 1;
    if (type === 'change') this.#render(this.#ctx, this.#canvas.width, this.#canvas.height);
    this.#emit(type);
  }

  #emit(type) {
    this.dispatchEvent(new Event(type));
  }

  /** Draws the strokes since the last clearing afresh; they are returned. */
  #render(ctx, width, height) {
    ctx.clearRect(0, 0, width, height);
    const start = this.#strokes.findLastIndex((s) => s.tool === 'clear') + 1;
    const drawn = this.#strokes.slice(start);
    for (const stroke of drawn) drawStroke(ctx, stroke, width, height, this.#penWidth);
    return drawn;
  }
}

/** Draws a stroke, or only its points from index `from` on, with a round pen `penWidth` of the height. */
function drawStroke(ctx, stroke, w, h, penWidth, from = 0) {
  const width = penWidth * h * (stroke.tool === TOOLS.ERASER ? ERASER_SCALE : 1);
  ctx.save();
  // The eraser removes ink rather than painting white, so an erased pad is blank again.
  ctx.globalCompositeOperation = stroke.tool === TOOLS.ERASER ? 'destination-out' : 'source-over';
  ctx.strokeStyle = ctx.fillStyle = INK;
  ctx.lineWidth = width;
  ctx.lineCap = ctx.lineJoin = 'round';
  const points = stroke.points.slice(from);
  if (points.length === 1) {
    ctx.beginPath();
    ctx.arc(points[0][0] * w, points[0][1] * h, width / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else if (points.length > 1) {
    ctx.beginPath();
    ctx.moveTo(points[0][0] * w, points[0][1] * h);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x * w, y * h);
    ctx.stroke();
  }
  ctx.restore();
}

/**
 * A box, in whole pixels of a width x height image, that holds all the ink the strokes leave: around
 * the pencil's points, as far as its round tip reaches and two pixels beyond for its smoothing (the
 * eraser only takes ink away). Null when there is none.
 */
function inkBox(strokes, width, height, penPx) {
  let left = Infinity;
  let top = Infinity;
  let right = -Infinity;
  let bottom = -Infinity;
  for (const { tool, points } of strokes) {
    if (tool !== TOOLS.PENCIL) continue;
    for (const [x, y] of points) {
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  const reach = Math.ceil(penPx / 2) + 2;
  const x0 = Math.max(0, Math.floor(left * width) - reach);
  const y0 = Math.max(0, Math.floor(top * height) - reach);
  const x1 = Math.min(width, Math.ceil(right * width) + reach);
  const y1 = Math.min(height, Math.ceil(bottom * height) + reach);
  return x1 > x0 && y1 > y0 ? { left: x0, top: y0, width: x1 - x0, height: y1 - y0 } : null;
}

/** The longer side, in pixels, of the box around an image's ink (pixels with at least `inkAlpha`); 0 for none. */
function inkExtent({ data, width, height }, inkAlpha) {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4 + 3] >= inkAlpha) {
        if (y < top) top = y;
        bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  return bottom < 0 ? 0 : Math.max(bottom - top + 1, right - left + 1);
}
